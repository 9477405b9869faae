"""The Dockerfile, checked without a container engine (tests/test_container.py builds and runs it
where one is installed): every file it copies exists and is in the build context, its settings are
valid, and its command and health check are the app's."""

import json
import re
import runpy
import shlex
import sys

import pytest

from regpipe.params import Serve
from regpipe.serve import load_settings
from tests.helpers import ROOT

DOCKERFILE = (ROOT / "Dockerfile").read_text()


def instructions(name: str) -> list[str]:
    """The arguments of every ``name`` instruction, continuation lines joined."""
    joined = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    return [m.group(1).strip() for m in re.finditer(rf"^{name}\s+(.*)$", joined, re.MULTILINE)]


def exec_form(argument: str) -> list[str]:
    return json.loads(argument) if argument.startswith("[") else shlex.split(argument)


def test_copied_sources_exist() -> None:
    sources = [source for args in instructions("COPY") for source in args.split()[:-1]]
    assert sources, "the Dockerfile copies something"
    for source in sources:
        if source == "requirements-serve.txt":
            # The hashed lock is compiled from requirements-serve.in (`make lock`).
            assert (ROOT / "requirements-serve.in").is_file()
            continue
        assert (ROOT / source).exists(), f"COPY {source}: no such file in the repository"


def test_the_service_dependencies_are_a_subset_of_the_project_pins() -> None:
    def pins(name: str) -> dict[str, str]:
        lines = (ROOT / name).read_text().splitlines()
        return dict(line.split("==") for line in lines if line and not line.startswith("#"))

    serve, project = pins("requirements-serve.in"), pins("requirements.in")
    assert {name: project.get(name) for name in serve} == serve
    assert "dvc" not in serve and "pytest" not in serve


def test_environment_overrides_are_valid_settings() -> None:
    env = {}
    for args in instructions("ENV"):
        env |= dict(shlex.split(pair)[0].split("=", 1) for pair in args.split())
    overrides = {key: value for key, value in env.items() if key.startswith("REGPIPE_SERVE_")}
    assert {key.removeprefix("REGPIPE_SERVE_").lower() for key in overrides} <= set(
        Serve.model_fields
    )
    settings = load_settings(ROOT / "params.yaml", overrides)
    assert settings.use_registry is False, "the image serves a mounted model"
    assert settings.model.startswith("/model/")


def test_command_and_healthcheck_are_the_service_entry_point(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    (command,) = instructions("CMD")
    argv = exec_form(command)
    assert argv[:3] == ["python", "-m", "regpipe.serve"]
    monkeypatch.setattr(sys, "argv", [argv[2], *argv[3:], "--help"])
    with pytest.raises(SystemExit) as exited:
        runpy.run_module(argv[2], run_name="__main__", alter_sys=True)  # what `python -m` runs
    assert exited.value.code == 0
    assert "--port" in capsys.readouterr().out
    (healthcheck,) = instructions("HEALTHCHECK")
    assert "/health" in healthcheck and ":8000/" in healthcheck
    assert instructions("USER") == ["regpipe"]
    assert instructions("FROM") == ["${BASE_IMAGE}"]
    (default,) = [arg.split("=", 1)[1] for arg in instructions("ARG") if arg.startswith("BASE_")]
    assert default.endswith("-slim"), "the default base: Python 3.11 slim, from a registry"


def test_the_build_context_holds_what_the_dockerfile_copies() -> None:
    """.dockerignore keeps the context small (no .venv, DVC cache, data, models) but complete."""
    import pathspec

    ignored = pathspec.PathSpec.from_lines(
        "gitwildmatch", (ROOT / ".dockerignore").read_text().splitlines()
    )
    sources = [source for args in instructions("COPY") for source in args.split()[:-1]]
    for source in sources:
        copied = ROOT / source
        for path in [copied] if copied.is_file() else copied.rglob("*.py"):
            relative = path.relative_to(ROOT).as_posix()
            assert not ignored.match_file(relative), f"{relative}: excluded by .dockerignore"
    for heavy in [".venv/bin/python", ".dvc/cache/x", "models/champion.joblib", "data/raw/x"]:
        assert ignored.match_file(heavy)
