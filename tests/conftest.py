"""Shared fixtures: a temporary git clone of this working tree, built once with the real dvc."""

import ast
import itertools
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from _pytest.mark.expression import Expression
from hypothesis import settings

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
TIERS = ("pipeline", "process", "service", "container", "browser")
FIXTURE_TIERS = {"built_repo": "pipeline", "repo_copy": "pipeline", "engine": "container"}

# `make test-fast` loads this profile (`--hypothesis-profile fast`): each property tries a few
# examples; `make test` and a targeted run try the count the test names (helpers.examples).
settings.register_profile("fast", max_examples=10)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for fixture, tier in FIXTURE_TIERS.items():
            if fixture in item.fixturenames:
                item.add_marker(tier)
        if not any(item.get_closest_marker(tier) for tier in TIERS):
            item.add_marker("unit")
    longest_first(items)


def longest_first(items: list[pytest.Item]) -> None:
    """Files whose tests run long go first: a module kept on one xdist worker (`xdist_group`: a
    server or an image for all its tests), then files with `slow` tests, then the rest in
    their order. pytest-xdist hands out work in this order, so the short tests fill the other
    worker's time instead of one worker finishing a long file alone at the end. A file's tests
    stay together (module fixtures are built once)."""
    rank: dict[str, int] = {}
    for item in items:
        module = item.nodeid.split("::")[0]
        item_rank = (
            0
            if item.get_closest_marker("xdist_group")
            else 1
            if item.get_closest_marker("slow")
            else 2
        )
        rank[module] = min(rank.get(module, 2), item_rank)
    items.sort(key=lambda item: rank[item.nodeid.split("::")[0]])


def module_marks(path: Path) -> set[str]:
    """The marks a test file's module-level ``pytestmark`` gives, read without importing it."""
    for node in ast.parse(path.read_bytes()).body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if any(isinstance(target, ast.Name) and target.id == "pytestmark" for target in targets):
            return {
                child.attr
                for child in ast.walk(node.value)
                if isinstance(child, ast.Attribute)
                and isinstance(child.value, ast.Attribute)
                and child.value.attr == "mark"
            }
    return set()


def never_selected(markexpr: str, marks: set[str]) -> bool:
    """Whether ``-m markexpr`` deselects every test that has ``marks``, whatever marks its tests
    add: tried with each other name in the expression present and absent. A file with a tier
    has no `unit` test (conftest gives `unit` only to tests without a tier)."""
    known = {name: True for name in marks}
    if marks & set(TIERS):
        known["unit"] = False
    names = set(re.findall(r"[A-Za-z_][\w-]*", markexpr)) - {"and", "or", "not"} - set(known)
    expression = Expression.compile(markexpr)
    for values in itertools.product([False, True], repeat=len(names)):
        present = {**known, **dict(zip(sorted(names), values, strict=True))}
        if expression.evaluate(lambda name, present=present, **_: present.get(name, False)):
            return False
    return True


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Under ``-m`` (`make test-fast`), skip importing a file whose ``pytestmark`` alone rules
    out every test in it: their imports (MLflow, gto, dvc, Playwright) are most of the unit
    tier's collection time."""
    markexpr = config.option.markexpr
    name = collection_path.name
    if markexpr and name.startswith("test_") and name.endswith(".py"):
        return never_selected(markexpr, module_marks(collection_path)) or None
    return None


# A unit test runs in this process: starting a program (python, git, dvc, a server) makes it
# another tier. Python's audit events see every process start, so a unit test that starts one
# fails and says which tier it belongs to.
PROCESS_EVENTS = {"subprocess.Popen", "os.posix_spawn", "os.spawn", "os.system", "os.exec"}
started_in_unit_test: list[str] = []
watching = False


def note_process_start(event: str, args: tuple) -> None:
    if watching and event in PROCESS_EVENTS:
        started_in_unit_test.append(f"{event} {args[:2]!r}"[:300])


sys.addaudithook(note_process_start)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    """Watch a unit test from its fixtures' setup to the end of its call."""
    global watching
    watching = item.get_closest_marker("unit") is not None
    started_in_unit_test.clear()
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    global watching
    try:
        result = yield
    finally:
        watching = False
    if started_in_unit_test:
        pytest.fail(
            f"a unit test runs in this process, this one started {started_in_unit_test[0]}: "
            "mark it `process` (python, a stage script, a CLI) or `pipeline` (git, dvc, gto)",
            pytrace=False,
        )
    return result
