"""Time `regpipe-registry publish` and a consumer's first prod fetch with 10 registered versions.

Method: clone this working tree into a temporary directory (the publisher), pin the default DVC
remote as `make setup` does (`make .dvc/config.local`: an empty storage folder beside it), run
`dvc repro` once and commit; make 10 versions as bench/registry_bench.py does (commits that change
only a notes file, tagged `champion@v0.0.N` in GTO's format, every fifth one assigned to prod).
Then time, one process per call as a user runs them:
- `publish` to an empty bare `origin` and an empty DVC storage (every version's objects + tags);
- `publish` again (nothing new: the cost of checking);
- the consumer: `git clone` of origin, `make .dvc/config.local`, then its first
  `checkout --stage prod --model-only -o DIR` (model read from the DVC remote, hash-checked).

Run: .venv/bin/python bench/publish_bench.py
"""

import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.registry_bench import make_versions  # noqa: E402
from tests.helpers import clone_working_tree, sh  # noqa: E402

N_VERSIONS = 10


def timed(repo: Path, *args: str) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds (user + system of the command and its children), its stdout."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    out = sh(*args, cwd=repo).stdout.strip()
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, out


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        publisher = clone_working_tree(Path(tmp) / "publisher")
        sh("make", ".dvc/config.local", cwd=publisher)
        sh("dvc", "repro", cwd=publisher)
        sh("git", "add", "-A", cwd=publisher)
        sh("git", "commit", "-q", "--allow-empty", "-m", "dvc repro", cwd=publisher)
        make_versions(publisher, N_VERSIONS)
        origin = Path(tmp) / "origin.git"
        sh("git", "init", "-q", "--bare", "-b", "main", str(origin), cwd=Path(tmp))
        sh("git", "remote", "add", "origin", str(origin), cwd=publisher)
        sh("git", "push", "-q", "origin", "main", cwd=publisher)

        rows = [
            ("publish (first: empty remotes)", timed(publisher, "regpipe-registry", "publish")),
            ("publish (again: nothing new)", timed(publisher, "regpipe-registry", "publish")),
        ]
        consumer = Path(tmp) / "consumer"
        rows.append(
            (
                "consumer: git clone",
                timed(Path(tmp), "git", "clone", "-q", str(origin), str(consumer)),
            )
        )
        rows.append(
            ("consumer: make .dvc/config.local", timed(consumer, "make", ".dvc/config.local"))
        )
        out_dir = Path(tmp) / "deploy"
        fetch = [
            "regpipe-registry",
            "checkout",
            "--stage",
            "prod",
            "--model-only",
            "-o",
            str(out_dir),
        ]
        rows.append(("consumer: first prod fetch", timed(consumer, *fetch)))

        print(f"{'step':<34} {'wall (s)':>8} {'CPU (s)':>8}  output")
        for name, (wall, cpu, out) in rows:
            print(f"{name:<34} {wall:>8.2f} {cpu:>8.2f}  {out[:150]}")
        storage = Path(tmp) / "regpipe-dvc-storage"
        objects = sum(1 for path in storage.rglob("*") if path.is_file())
        size = sum(path.stat().st_size for path in storage.rglob("*") if path.is_file())
        print(f"{N_VERSIONS} versions; DVC storage: {objects} objects, {size / 1e6:.2f} MB")
        print(
            f"cpus: {os.cpu_count()}; load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())}"
        )


if __name__ == "__main__":
    main()
