"""Wall times for issue 7, on a temporary clone of this working tree built with `dvc repro`:

1. eight alphas as eight queued experiments (`dvc exp run --queue -S`, `dvc queue start -j 2`),
   against the same eight alphas as one cross-validated grid inside the train_ridge stage;
2. `dvc push` of every output, then `dvc pull` into a fresh clone, to the default local
   remote and to an SSH remote (a real sshd on 127.0.0.1, as in tests/test_remote.py).

Run from the repository root: `PYTHONPATH=. .venv/bin/python bench/experiments.py`.
"""

import argparse
import getpass
import os
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

from regpipe.sweep import parse_experiments, wait_for_queue
from tests.helpers import clone_working_tree, command_env, sh
from tests.sshd import serve_sshd


def timed(*args: str, cwd: Path, env: dict[str, str] | None = None) -> float:
    """Seconds ``args`` took; a failure stops the benchmark with the command's stderr."""
    start = time.perf_counter()
    result = subprocess.run(args, cwd=cwd, env=env or command_env(), capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{result.stderr}")
    return time.perf_counter() - start


def sweep_vs_grid(repo: Path, alphas: list[str], jobs: int) -> dict[str, float]:
    start = time.perf_counter()
    sh("dvc", "exp", "run", "--queue", "-S", f"train_ridge.alpha={','.join(alphas)}", cwd=repo)
    sh("dvc", "queue", "start", "-j", str(jobs), cwd=repo)
    sweep = parse_experiments(wait_for_queue(repo, poll_seconds=1.0), "train_ridge.alpha")
    queued = time.perf_counter() - start
    assert len(sweep.finished) == len(alphas), sweep

    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["train_ridge"]["alpha"] = None
    params["train_ridge"]["alpha_grid"] = {"log10_start": -3, "log10_stop": 2, "num": len(alphas)}
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    grid = timed("dvc", "repro", cwd=repo)  # reruns train_ridge and evaluate only
    sh("git", "checkout", "--", "params.yaml", "dvc.lock", "metrics", cwd=repo)
    sh("dvc", "checkout", cwd=repo)
    return {"queued sweep": queued, "in-stage grid": grid}


def push_pull_local(repo: Path, work: Path) -> dict[str, float]:
    push = timed("dvc", "push", cwd=repo)
    clone = work / "fresh-local"
    sh("git", "clone", "-q", str(repo), str(clone), cwd=work)
    return {"local push": push, "local pull": timed("dvc", "pull", cwd=clone)}


def push_pull_ssh(repo: Path, work: Path) -> dict[str, float]:
    (work / "sshd").mkdir()
    with serve_sshd(work / "sshd") as server:
        sh("dvc", "remote", "add", "ssh", f"ssh://127.0.0.1:{server.port}{work / 'ssh'}", cwd=repo)
        sh("git", "commit", "-q", "-am", "ssh remote", cwd=repo)
        clone = work / "fresh-ssh"
        sh("git", "clone", "-q", str(repo), str(clone), cwd=work)
        for where in (repo, clone):
            sh("dvc", "remote", "modify", "--local", "ssh", "user", getpass.getuser(), cwd=where)
            sh("dvc", "remote", "modify", "--local", "ssh", "keyfile", str(server.client_key),
               cwd=where)  # fmt: skip
        env = server.env()
        return {
            "ssh push": timed("dvc", "push", "-r", "ssh", cwd=repo, env=env),
            "ssh pull": timed("dvc", "pull", "-r", "ssh", cwd=clone, env=env),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    alphas = [f"{alpha:.6g}" for alpha in np.logspace(-3, 2, 8)]
    os.environ["PATH"] = command_env()["PATH"]  # regpipe.sweep calls dvc: the venv's

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        repo = clone_working_tree(work / "repo")
        build = timed("dvc", "repro", cwd=repo)
        sh("git", "add", "-A", cwd=repo)
        sh("git", "commit", "-q", "--allow-empty", "-m", "dvc repro", cwd=repo)
        figures = {"dvc repro (full build)": build}
        print(f"dvc repro (full build): {build:.1f} s", flush=True)
        for step in (
            lambda: sweep_vs_grid(repo, alphas, args.jobs),
            lambda: push_pull_local(repo, work),
            lambda: push_pull_ssh(repo, work),
        ):
            measured = step()
            print(", ".join(f"{name}: {seconds:.1f} s" for name, seconds in measured.items()))
            figures |= measured
        size = sum(f.stat().st_size for f in (repo / ".dvc/cache").rglob("*") if f.is_file())

    print(f"alphas: {', '.join(alphas)}; outputs in the DVC cache: {size / 1e6:.2f} MB")
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    for name, seconds in figures.items():
        print(f"{name:<24} {seconds:7.1f} s")


if __name__ == "__main__":
    main()
