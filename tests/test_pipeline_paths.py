"""regpipe.pipeline_paths: every pipeline file named once, in dvc.yaml, and read from there."""

import subprocess
from pathlib import Path

import pytest
from dvc.repo import Repo

from regpipe.errors import UserError
from regpipe.pipeline_paths import pipeline_paths, stage_flags
from tests.helpers import ROOT, clone_working_tree, sh


def dvc_outputs(repo: Path) -> dict[str, set[str]]:
    """stage -> the outputs (outs and metrics) DVC itself reads from dvc.yaml."""
    with Repo(str(repo)) as dvc_repo:
        return {stage.name: {out.def_path for out in stage.outs} for stage in dvc_repo.index.stages}


def test_every_path_is_an_output_of_its_stage_as_dvc_reads_it() -> None:
    paths = pipeline_paths(ROOT)
    outputs = dvc_outputs(ROOT)
    assert paths.evaluate_metrics in outputs["evaluate"]
    assert paths.model_card in outputs["evaluate"]
    assert paths.champion in outputs["evaluate"]
    assert paths.safe_champion in outputs["evaluate"]
    assert paths.train_stats in outputs["prepare"]
    assert paths.drift_metrics in outputs["drift"]
    for section in ("train_ols", "train_ridge", "train_lasso"):
        assert paths.train_metrics(section) in outputs[section]
    assert paths.artifact("champion") == paths.champion
    every_output = set().union(*outputs.values())
    assert set(paths.metrics) <= every_output and set(paths.git_outputs) <= every_output
    with Repo(str(ROOT)) as dvc_repo:
        uncached = {out.def_path for out in dvc_repo.index.outs if not out.use_cache}
    assert set(paths.git_outputs) == uncached


@pytest.mark.pipeline
def test_a_moved_file_is_followed_at_each_revision(tmp_path: Path) -> None:
    repo = clone_working_tree(tmp_path / "repo")
    before = pipeline_paths(repo).evaluate_metrics
    dvc_yaml = repo / "dvc.yaml"
    dvc_yaml.write_text(dvc_yaml.read_text().replace(before, "reports/evaluation.json"))
    sh("git", "commit", "-q", "-am", "move the evaluation", cwd=repo)

    assert pipeline_paths(repo).evaluate_metrics == "reports/evaluation.json"
    assert pipeline_paths(repo, rev="HEAD~1").evaluate_metrics == before
    assert "reports/evaluation.json" in pipeline_paths(repo).metrics


def test_flags_repeat_and_templates_stay_as_written() -> None:
    flags = stage_flags("python s.py --model a=x.joblib --model b=y.joblib --current ${d.c} -v")
    assert flags == {"--model": ["a=x.joblib", "b=y.joblib"], "--current": ["${d.c}"]}
    assert stage_flags(["python s.py --out", "o.json"]) == {"--out": ["o.json"]}


@pytest.mark.pipeline
def test_a_missing_pipeline_or_flag_is_named(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="dvc.yaml: cannot read the pipeline"):
        pipeline_paths(tmp_path)
    (tmp_path / "dvc.yaml").write_text("stages:\n  evaluate:\n    cmd: python e.py\n")
    with pytest.raises(UserError, match="stage 'evaluate' has no --out-card"):
        _ = pipeline_paths(tmp_path).model_card
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    with pytest.raises(UserError, match="dvc.yaml at HEAD"):
        pipeline_paths(tmp_path, rev="HEAD")
