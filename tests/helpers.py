"""Helpers every test tier shares: real commands, temporary clones, params edits, free ports.

One copy of each, so a test that runs dvc, copies the working tree or edits params.yaml does it
the way the others do. The fixtures built on them (``built_repo``, ``repo_copy``) are in
conftest.py.
"""

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import yaml
from hypothesis import settings

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PARAMS = ROOT / "params.yaml"


def command_env() -> dict[str, str]:
    """The environment for dvc/git subprocesses: this venv first on PATH, no analytics."""
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1"}


def sh(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    """Run a real command (dvc, git, python) in ``cwd``; on an unexpected status show its output."""
    result = subprocess.run(args, cwd=cwd, env=command_env(), capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
        )
    return result


def git_init(repo: Path) -> Path:
    """``git init`` with the tests' own identity, so commits and tags never use the user's."""
    repo.mkdir(parents=True, exist_ok=True)
    sh("git", "init", "-q", "-b", "main", cwd=repo)
    sh("git", "config", "user.name", "regpipe tests", cwd=repo)
    sh("git", "config", "user.email", "tests@regpipe.invalid", cwd=repo)
    return repo


def commit_all(repo: Path, message: str) -> None:
    """``git add -A`` and commit, as a user records a change."""
    sh("git", "add", "-A", cwd=repo)
    sh("git", "commit", "-q", "-m", message, cwd=repo)


def git_clone(source: Path, destination: Path) -> Path:
    """A git clone: committed files only, no DVC cache, no outputs."""
    sh("git", "clone", "-q", str(source), str(destination), cwd=destination.parent)
    return destination


def clone_working_tree(destination: Path) -> Path:
    """Copy the files git would commit (tracked and untracked, not ignored) into a new repo."""
    destination.mkdir(parents=True, exist_ok=True)
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    for name in filter(None, files):
        source = ROOT / name
        if source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    git_init(destination)
    commit_all(destination, "clone of the working tree")
    return destination


DROP = object()  # a value for edit_params: delete the key


def edit_params(path: Path, changes: dict[str, object], *, start_from: Path | None = None) -> Path:
    """Set each dotted key of ``changes`` (``"train_ridge.alpha_grid.num"``, as `dvc exp run -S`
    names it) in the params file ``path``, read from ``start_from`` if given; the value replaces
    what was there, ``DROP`` deletes the key. Comments are not kept (a test edit, not a user's)."""
    params = yaml.safe_load((start_from or path).read_text())
    for dotted, value in changes.items():
        *parents, leaf = dotted.split(".")
        node = params
        for parent in parents:
            node = node[parent]
        if value is DROP:
            del node[leaf]
        else:
            node[leaf] = value
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that no one listens on now (the kernel picks it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def examples(count: int) -> int:
    """A property's hypothesis example count: ``count``, or the few of the `fast` profile that
    `make test-fast` loads (conftest.py), so the unit tier stays seconds and `make test` keeps
    every example."""
    if settings.get_current_profile_name() == "fast":
        return min(count, settings().max_examples)
    return count
