"""The one exception type for bad input, and the wrapper that turns it into a clean exit."""

import sys
from collections.abc import Callable


class UserError(Exception):
    """Bad input from the user (params, data, arguments): shown as a message, never a traceback."""


def run(main: Callable[[], None]) -> None:
    """Run a command's ``main``; a UserError exits with status 1 and its message on stderr."""
    try:
        main()
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        # Ctrl-C: outputs are written atomically, so nothing half-written is left behind.
        print("interrupted: no output was half-written", file=sys.stderr)
        sys.exit(130)
