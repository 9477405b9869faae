"""Wall time of `dvc repro` (full and no-op) against one fused Python process doing the same work.

The fused run executes every stage command from dvc.yaml, in DAG order, inside ONE interpreter
(runpy), so it pays the imports once; the difference is what separate stage processes and DVC's
own bookkeeping cost. Run from the repository root:

    .venv/bin/python bench/pipeline_time.py [--repeat 3]
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ENV = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1"}


def fresh_clone(parent: Path) -> Path:
    repo = parent / "repo"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(repo)], check=True)
    return repo


def timed(args: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(args, cwd=cwd, env=ENV, check=True, capture_output=True)
    return time.perf_counter() - start


def dry_run(repo: Path) -> str:
    """What `dvc repro --dry --force` prints: every stage and its command, in the order it runs."""
    return subprocess.run(
        ["dvc", "repro", "--dry", "--force"],
        cwd=repo,
        env=ENV,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def stage_commands(repo: Path) -> list[str]:
    return [line[2:] for line in dry_run(repo).splitlines() if line.startswith("> ")]


FUSED = """
import runpy, shlex, sys
for command in sys.argv[1:]:
    argv = shlex.split(command)
    sys.argv = argv[1:]
    runpy.run_path(argv[1], run_name="__main__")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    full, noop, fused = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        repo = fresh_clone(Path(tmp))
        commands = stage_commands(repo)
        for _ in range(args.repeat):
            shutil.rmtree(repo / ".dvc" / "cache", ignore_errors=True)
            full.append(timed(["dvc", "repro", "--force", "--no-run-cache"], repo))
            noop.append(timed(["dvc", "repro"], repo))
            fused.append(timed([sys.executable, "-c", FUSED, *commands], repo))
    for name, times in [
        ("dvc repro (full)", full),
        ("dvc repro (no-op)", noop),
        ("fused process", fused),
    ]:
        print(f"{name:20s} median {statistics.median(times):6.2f} s  runs {times}")
    print(f"ratio full/fused: {statistics.median(full) / statistics.median(fused):.2f}")


if __name__ == "__main__":
    main()
