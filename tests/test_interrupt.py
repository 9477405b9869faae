"""A Ctrl-C while a stage script is still importing its libraries (most of a stage's time on
small data) ends it with the stages' one line, not a Python traceback, and the process still
dies by SIGINT, so DVC sees an interrupted command."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from regpipe.errors import INTERRUPTED

pytestmark = pytest.mark.process  # each test starts a stage script

ROOT = Path(__file__).resolve().parents[1]
STAGES = sorted(path.name for path in (ROOT / "stages").glob("*.py"))


def numpy_loaded(pid: int) -> bool:
    """numpy's C extension is mapped: the script is past its first line, inside its imports."""
    try:
        return "_multiarray_umath" in Path(f"/proc/{pid}/maps").read_text()
    except FileNotFoundError:
        return False


@pytest.mark.parametrize("script", STAGES)
def test_ctrl_c_during_imports_prints_no_traceback(script: str, tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "stages" / script)],
        cwd=tmp_path,  # nothing to read or write: the run must not get past its imports
        stderr=subprocess.PIPE,
        text=True,
        # A terminal's disposition: a test runner's worker may have left SIGINT ignored.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 60
    while not numpy_loaded(process.pid) and process.poll() is None:
        assert time.monotonic() < deadline, f"{script} never imported numpy"
        time.sleep(0.002)
    process.send_signal(signal.SIGINT)
    stderr = process.communicate(timeout=60)[1]
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1] == INTERRUPTED
    assert process.returncode == -signal.SIGINT
    assert list(tmp_path.iterdir()) == []
