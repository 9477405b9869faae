"""Time the registry commands on a repository with 50 registered versions.

Method: clone this working tree into a temporary directory, run `dvc repro` once and commit. Then
make 50 versions cheaply: 50 commits that each change only a small notes file (outputs and dvc.lock
stay valid, so each commit is a legitimate registrable state), each tagged `champion@v0.0.N` with
an annotated tag exactly as GTO writes it, and every fifth one assigned to `prod`
(`champion#prod#K`). Tag dates are set one minute apart (GIT_COMMITTER_DATE) so their order is
unambiguous without waiting. Then time the real `regpipe-registry` command line (one process per
call, as a user runs it) for register, promote, rollback, a full restore (`checkout VERSION`:
git checkout + dvc checkout, after deleting data/ and models/ so every output is restored from
the DVC cache) and a model-only restore (`checkout --model-only`), each ROUNDS times.

Run: .venv/bin/python bench/registry_bench.py
"""

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.helpers import clone_working_tree, command_env, sh  # noqa: E402

N_VERSIONS = 50
ROUNDS = 3
EPOCH = 1_700_000_000


def tag(repo: Path, name: str, message: str, when: int, rev: str = "HEAD") -> None:
    env = {**command_env(), "GIT_COMMITTER_DATE": f"{when} +0000"}
    subprocess.run(["git", "tag", "-a", name, "-m", message, rev], cwd=repo, env=env, check=True)


def make_versions(repo: Path, count: int = N_VERSIONS) -> None:
    prod = 0
    for number in range(1, count + 1):
        (repo / "NOTES.txt").write_text(f"release note {number}\n")
        sh("git", "add", "NOTES.txt", cwd=repo)
        sh("git", "commit", "-q", "-m", f"note {number}", cwd=repo)
        version = f"v0.0.{number}"
        when = EPOCH + 120 * number
        tag(repo, f"champion@{version}", f"Registering artifact champion version {version}", when)
        if number % 5 == 0:
            prod += 1
            message = f"Assigning stage prod to artifact champion version {version}"
            tag(repo, f"champion#prod#{prod}", message, when + 60)


def timed(repo: Path, *args: str) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system, the command and the git it runs)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    sh("regpipe-registry", *args, cwd=repo)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        repo = clone_working_tree(Path(tmp) / "repo")
        sh("dvc", "repro", cwd=repo)
        sh("git", "add", "-A", cwd=repo)
        sh("git", "commit", "-q", "--allow-empty", "-m", "dvc repro", cwd=repo)
        start = time.perf_counter()
        make_versions(repo)
        print(f"made {N_VERSIONS} versions in {time.perf_counter() - start:.1f} s")

        times: dict[str, list[tuple[float, float]]] = {}
        for round_ in range(ROUNDS):
            (repo / "NOTES.txt").write_text(f"bench round {round_}\n")
            sh("git", "commit", "-q", "-am", f"bench round {round_}", cwd=repo)
            version = f"v0.0.{N_VERSIONS + 1 + round_}"
            times.setdefault("register", []).append(timed(repo, "register"))
            times.setdefault("promote", []).append(
                timed(repo, "promote", version, "--stage", "prod")
            )
            times.setdefault("rollback", []).append(timed(repo, "rollback", "--stage", "prod"))
            times.setdefault("list (all versions)", []).append(timed(repo, "list"))
            out_dir = Path(tmp) / f"model-{round_}"
            times.setdefault("checkout --model-only", []).append(
                timed(repo, "checkout", "v0.0.1", "--model-only", "-o", str(out_dir))
            )
            branch = sh("git", "branch", "--show-current", cwd=repo).stdout.strip()
            for outputs in ("data/raw", "data/prepared", "models"):
                for path in (repo / outputs).glob("*"):
                    if path.name != ".gitignore":
                        path.unlink()
            times.setdefault("checkout VERSION (full restore)", []).append(
                timed(repo, "checkout", "v0.0.1")
            )
            sh("git", "switch", "-q", branch, cwd=repo)
            sh("dvc", "checkout", cwd=repo)

        print(f"{'command':<34} {'wall median':>11} {'min':>6} {'max':>6} {'CPU median':>10}")
        for name, values in times.items():
            walls = [wall for wall, _ in values]
            cpu = statistics.median(cpu for _, cpu in values)
            print(
                f"{name:<34} {statistics.median(walls):>11.2f} {min(walls):>6.2f} "
                f"{max(walls):>6.2f} {cpu:>10.2f}"
            )
        tags = len(sh("git", "tag", cwd=repo).stdout.split())
        print(f"seconds, {ROUNDS} runs each; cpus: {os.cpu_count()}, tags: {tags}")
        print(f"load average: {' '.join(f'{load:.1f}' for load in os.getloadavg())}")


if __name__ == "__main__":
    main()
