"""Shared fixtures: a temporary git clone of this working tree, built once with the real dvc."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from regpipe import deploy
from regpipe.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


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
    sh("git", "init", "-q", "-b", "main", cwd=destination)
    sh("git", "config", "user.name", "regpipe tests", cwd=destination)
    sh("git", "config", "user.email", "tests@regpipe.invalid", cwd=destination)
    sh("git", "add", "-A", cwd=destination)
    sh("git", "commit", "-q", "-m", "clone of the working tree", cwd=destination)
    return destination


@pytest.fixture(scope="session")
def built_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clone where `dvc repro` ran and was committed. Copy it (``repo_copy``) to change it."""
    repo = clone_working_tree(tmp_path_factory.mktemp("built") / "repo")
    sh("dvc", "repro", cwd=repo)
    sh("git", "add", "-A", cwd=repo)
    sh("git", "commit", "-q", "--allow-empty", "-m", "dvc repro", cwd=repo)
    return repo


@pytest.fixture
def repo_copy(built_repo: Path, tmp_path: Path) -> Path:
    """A private copy of ``built_repo``, outputs and cache included, for tests that change it."""
    copy = tmp_path / "repo"
    shutil.copytree(built_repo, copy, symlinks=True)
    return copy


@pytest.fixture(scope="session")
def engine() -> deploy.Engine:
    """podman or docker; the container tests skip without one (.ci/run installs podman)."""
    try:
        return deploy.find_engine()
    except UserError as error:
        pytest.skip(str(error))


@pytest.fixture(scope="session")
def base_image(engine: deploy.Engine) -> str | None:
    """``REGPIPE_BASE_IMAGE``, else the local one scripts/base-image.sh makes (its tarball is
    cached under ~/.cache/regpipe, so only a machine's first run pays), else the Dockerfile's."""
    if os.environ.get("REGPIPE_BASE_IMAGE"):
        return os.environ["REGPIPE_BASE_IMAGE"]
    if not shutil.which("mmdebstrap"):
        return None  # the Dockerfile's default, from a registry
    script = subprocess.run(
        [ROOT / "scripts/base-image.sh"],
        env={**os.environ, "REGPIPE_CONTAINER_ENGINE": engine.program},
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert script.returncode == 0, script.stderr
    return script.stdout.strip().splitlines()[-1]
