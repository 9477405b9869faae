"""Pipeline tests: the real dvc and git on a temporary clone of this working tree."""

import json
from pathlib import Path

import yaml

from tests.conftest import sh

STAGES = [
    "generate",
    "prepare",
    "current",
    "train_ols",
    "train_ridge",
    "train_lasso",
    "evaluate",
    "drift",
]


def ran_stages(output: str) -> list[str]:
    return [stage for stage in STAGES if f"Running stage '{stage}'" in output]


def set_param(repo: Path, section: str, key: str, value: object) -> None:
    path = repo / "params.yaml"
    params = yaml.safe_load(path.read_text())
    params[section][key] = value
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def test_every_declared_output_exists(built_repo: Path) -> None:
    lock = yaml.safe_load((built_repo / "dvc.lock").read_text())
    assert sorted(lock["stages"]) == sorted(STAGES)
    outputs = [out["path"] for stage in lock["stages"].values() for out in stage.get("outs", [])]
    assert len(outputs) >= 14
    missing = [path for path in outputs if not (built_repo / path).is_file()]
    assert missing == []


def test_metrics_reproduce_the_course_notebook(built_repo: Path) -> None:
    evaluation = json.loads((built_repo / "metrics/evaluate.json").read_text())
    ols = evaluation["models"]["ols"]
    assert round(ols["rmse"], 2) == 53.85
    assert round(ols["r2"], 2) == 0.45
    lasso = json.loads((built_repo / "metrics/train_lasso.json").read_text())
    assert lasso["n_zero_coef"] == 1, "LASSO keeps 9 of the 10 features"
    assert len(lasso["coef"]) == 10
    assert evaluation["models"]["baseline"]["rmse"] > ols["rmse"]
    assert evaluation["champion"] in {"ols", "ridge", "lasso"}


def test_metrics_show_reads_every_metrics_file(built_repo: Path) -> None:
    shown = json.loads(sh("dvc", "metrics", "show", "--json", cwd=built_repo).stdout)
    files = next(iter(shown.values()))["data"]
    assert {
        "metrics/evaluate.json",
        "metrics/drift.json",
        "metrics/train_ols.json",
        "metrics/train_ridge.json",
        "metrics/train_lasso.json",
    } <= set(files)


def test_second_repro_reruns_nothing(built_repo: Path) -> None:
    result = sh("dvc", "repro", cwd=built_repo)
    assert ran_stages(result.stdout) == []
    assert "Data and pipelines are up to date" in result.stdout


def test_ridge_param_change_reruns_only_ridge_and_downstream(repo_copy: Path) -> None:
    set_param(repo_copy, "train_ridge", "alpha", 10)
    status = json.loads(sh("dvc", "status", "--json", cwd=repo_copy).stdout)
    assert sorted(status) == ["train_ridge"]

    result = sh("dvc", "repro", cwd=repo_copy)
    # alpha=10 makes ridge the champion, so drift (which checks the champion) reruns too
    assert ran_stages(result.stdout) == ["train_ridge", "evaluate", "drift"]
    ridge = json.loads((repo_copy / "metrics/train_ridge.json").read_text())
    assert ridge["alpha"] == 10
    assert ridge["n_alphas_searched"] == 1


def test_bad_param_stops_the_stage_and_outputs_are_restorable(repo_copy: Path) -> None:
    model = repo_copy / "models/ridge.joblib"
    before = model.read_bytes()
    set_param(repo_copy, "train_ridge", "alpha", -1)

    result = sh("dvc", "repro", cwd=repo_copy, check=False)
    assert result.returncode != 0
    assert "train_ridge.alpha" in result.stderr
    assert "greater than 0" in result.stderr
    assert "Traceback" not in result.stderr

    # DVC removes a stage's outputs before running it; models come back from the DVC cache,
    # metrics (small JSON kept in git) from git.
    sh("git", "checkout", "--", "params.yaml", "metrics", cwd=repo_copy)
    sh("dvc", "checkout", cwd=repo_copy)
    assert model.read_bytes() == before
    assert "up to date" in sh("dvc", "status", cwd=repo_copy).stdout
