"""Shared fixtures: a temporary git clone of this working tree, built once with the real dvc."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from regpipe import deploy
from regpipe.errors import UserError
from tests.helpers import ROOT, clone_working_tree, sh


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


# Test tiers (pyproject.toml lists the markers; tests/README.md maps each file to its tier).
# A test that uses a built clone is a pipeline test whatever its file says; one with no tier is
# a unit test, which `make test-fast` runs (`-m unit`).
TIERS = ("pipeline", "service", "container", "browser")
FIXTURE_TIERS = {"built_repo": "pipeline", "repo_copy": "pipeline", "engine": "container"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for fixture, tier in FIXTURE_TIERS.items():
            if fixture in item.fixturenames:
                item.add_marker(tier)
        if not any(item.get_closest_marker(tier) for tier in TIERS):
            item.add_marker("unit")
