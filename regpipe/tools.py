"""Running the project's command-line tools (dvc, git) from the commands that report on them."""

import subprocess
from pathlib import Path

from regpipe.errors import UserError


def run_tool(*args: str, cwd: Path | None = None) -> str:
    """The stdout of ``args``; a non-zero exit becomes a UserError quoting the tool's stderr."""
    try:
        result = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
    except FileNotFoundError:
        raise UserError(
            f"`{args[0]}` not found: activate the project's venv (make setup)"
        ) from None
    if result.returncode != 0:
        raise UserError(f"`{' '.join(args)}` failed:\n{result.stderr.strip()}")
    return result.stdout
