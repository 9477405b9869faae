"""The one exception type for bad input, and the wrapper that turns it into a clean exit."""

import sys
import warnings
from collections import Counter
from collections.abc import Callable

INTERRUPTED = "interrupted: no output was half-written"


class UserError(Exception):
    """Bad input from the user (params, data, arguments): shown as a message, never a traceback."""


def summarise_warnings(caught: list[warnings.WarningMessage]) -> list[str]:
    """One line per kind (category) of library warning: how many, and the first one's text.

    On small data scikit-learn repeats the same warning per fold and per alpha (dozens of
    lines); the count says as much without burying the stage's own output.
    """
    counts = Counter(item.category.__name__ for item in caught)
    first = {}
    for item in caught:
        first.setdefault(item.category.__name__, " ".join(str(item.message).split())[:200])
    return [f"warning: {n} x {kind}: {first[kind]}" for kind, n in counts.items()]


def run(main: Callable[[], None]) -> None:
    """Run a command's ``main``; a UserError exits with status 1 and its message on stderr.

    Library warnings are collected and summarised on stderr, one line per kind, at the end.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            _run(main)
        finally:
            for line in summarise_warnings(caught):
                print(line, file=sys.stderr)


def _run(main: Callable[[], None]) -> None:
    try:
        main()
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        # Ctrl-C: outputs are written atomically, so nothing half-written is left behind.
        print(INTERRUPTED, file=sys.stderr)
        sys.exit(130)


def quiet_interrupts() -> None:
    """A Ctrl-C before ``run`` starts ends the process with the same line, not a traceback.

    On small data a stage spends most of its time importing its libraries, DVC passes a Ctrl-C on
    to it, and Python reports a KeyboardInterrupt raised inside an import with a traceback. A
    stage script calls this before those imports. The process still dies by SIGINT, as callers
    expect of an interrupted command.
    """
    default_hook = sys.excepthook

    def hook(kind: type[BaseException], value: BaseException, traceback: object) -> None:
        if issubclass(kind, KeyboardInterrupt):
            print(INTERRUPTED, file=sys.stderr)
        else:
            default_hook(kind, value, traceback)

    sys.excepthook = hook
