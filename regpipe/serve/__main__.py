"""``python -m regpipe.serve``: the service's command line (regpipe.serve.cli)."""

from regpipe.errors import run
from regpipe.serve.cli import main

run(main)
