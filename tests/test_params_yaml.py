"""params.yaml is read as DVC reads it (YAML 1.2, ruamel.yaml): the values a stage sees are the
ones `dvc params diff` shows; booleans, duplicate keys and aliases are refused, and no message
quotes more than a few hundred characters of a value."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from regpipe.errors import UserError
from regpipe.params import MAX_SHOWN_CHARS, load_params
from tests.helpers import ROOT, sh

PARAMS = (ROOT / "params.yaml").read_text()


def with_line(old: str, new: str) -> str:
    """params.yaml with the one line ``old`` replaced by ``new`` (text, not a YAML round trip)."""
    assert PARAMS.count(old) == 1, old
    return PARAMS.replace(old, new)


def refusal(tmp_path: Path, text: str, section: str) -> str:
    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(UserError) as error:
        load_params(section, path)
    return str(error.value)


@pytest.mark.pipeline
def test_leading_zero_and_sexagesimal_read_as_dvc_reads_them(tmp_path: Path) -> None:
    """`017` is 17 and `1:30` a string for DVC (YAML 1.2); PyYAML (1.1) said 15 and 90."""
    repo = tmp_path / "repo"
    repo.mkdir()
    sh("git", "init", "-q", cwd=repo)
    sh("git", "config", "user.name", "regpipe tests", cwd=repo)
    sh("git", "config", "user.email", "tests@regpipe.invalid", cwd=repo)
    sh("dvc", "init", "-q", cwd=repo)
    (repo / "dvc.yaml").write_text(
        "stages:\n  prepare:\n    cmd: 'true'\n    params: [prepare.random_state, prepare.target]\n"
    )
    (repo / "params.yaml").write_text(PARAMS)
    sh("git", "add", "-A", cwd=repo)
    sh("git", "commit", "-q", "-m", "params", cwd=repo)
    edited = with_line(
        "  random_state: 42\n  # The data contract", "  random_state: 017\n  # The data contract"
    )
    edited = edited.replace("prepare:\n  target: target", "prepare:\n  target: 1:30")
    (repo / "params.yaml").write_text(edited)

    diff = json.loads(sh("dvc", "params", "diff", "--json", cwd=repo).stdout)["params.yaml"]
    prepare = load_params("prepare", repo / "params.yaml")
    assert (diff["prepare.random_state"]["new"], prepare.random_state) == (17, 17)
    assert (diff["prepare.target"]["new"], prepare.target) == ("1:30", "1:30")


@pytest.mark.parametrize(
    ("section", "old", "new", "key"),
    [
        ("train_ridge", "  alpha: null              #", "  alpha: true              #", "alpha"),
        (
            "train_ridge",
            "  alpha_grid: {log10_start: -3, log10_stop: 2, num: 100}",
            "  alpha_grid: {log10_start: -3, log10_stop: 2, num: true}",
            "alpha_grid.num",
        ),
        ("train_lasso", "    max_iter: 10000", "    max_iter: true", "estimator.max_iter"),
        (
            "evaluate",
            "  random_state: 42         #",
            "  random_state: true       #",
            "random_state",
        ),
    ],
)
def test_a_boolean_is_not_a_number(
    tmp_path: Path, section: str, old: str, new: str, key: str
) -> None:
    message = refusal(tmp_path, with_line(old, new), section)
    assert f"{section}.{key}: Input should be a valid" in message
    assert "(got True)" in message


def test_a_sexagesimal_is_not_a_number(tmp_path: Path) -> None:
    text = with_line("    max_iter: 10000", "    max_iter: 1:30")
    assert (
        "train_lasso.estimator.max_iter: Input should be a valid integer (got '1:30')"
        in refusal(tmp_path, text, "train_lasso")
    )


def test_duplicate_keys_are_refused_with_their_line(tmp_path: Path) -> None:
    text = with_line("    max_iter: 10000", "    max_iter: 10000\n    max_iter: 10")
    message = refusal(tmp_path, text, "train_lasso")
    line = (
        next(i for i, ln in enumerate(text.splitlines()) if ln.startswith("    max_iter: 10 ")) + 1
    )
    assert f'not valid YAML: line {line}: found duplicate key "max_iter"' in message
    assert "\n" not in message


@pytest.mark.process
def test_billion_laughs_is_refused_at_once_in_little_memory(tmp_path: Path) -> None:
    """Nine levels of ten aliases: 10**9 strings if expanded. Refused in a child process whose
    address space is capped at 1 GiB beyond what Python and the imports need."""
    levels = ['a0: &a0 "lol"'] + [
        f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 10)
    ]
    path = tmp_path / "params.yaml"
    path.write_text(PARAMS + "\n".join(["x:", *("  " + line for line in levels)]) + "\n")
    code = (
        "import resource, ruamel.yaml, pydantic\n"
        "from pathlib import Path\n"
        "from regpipe.errors import UserError\n"
        "from regpipe.params import load_params\n"
        "status = Path('/proc/self/status').read_text().split('VmSize:')[1]\n"
        "limit = int(status.split()[0]) * 1024 + (1 << 30)\n"
        "resource.setrlimit(resource.RLIMIT_AS, (limit, limit))\n"
        "try:\n"
        f"    load_params('prepare', Path({str(path)!r}))\n"
        "except UserError as error:\n"
        "    print(error)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "alias *a0 refused" in result.stdout
    assert len(result.stdout) < 400


def test_a_huge_value_is_quoted_in_a_few_hundred_characters(tmp_path: Path) -> None:
    huge = "[" + ", ".join(["1"] * 5_000) + "]"
    message = refusal(
        tmp_path, with_line("    max_iter: 10000", f"    max_iter: {huge}"), "train_lasso"
    )
    assert "train_lasso.estimator.max_iter: Input should be a valid integer" in message
    assert len(message) < 3 * MAX_SHOWN_CHARS
