"""regpipe-deploy (what .github/workflows/deploy.yml runs on a `champion#prod#N` push) on a real
temporary repository with registered, promoted versions: the real git, dvc and gto, and the real
container engine for the build-and-run part (skipped without one)."""

import json
import time
from pathlib import Path

import gto.api
import pytest
import yaml

from regpipe import deploy, registry
from regpipe.errors import UserError
from regpipe.io import sha256_file
from regpipe.pipeline_paths import pipeline_paths
from tests.helpers import ROOT, commit_all, free_port, sh
from tests.test_container import IMAGE, SERVED_MODEL

WORKFLOW = ROOT / ".github/workflows/deploy.yml"


def model_cache_object(repo: Path) -> Path:
    """The DVC cache file holding the served model's bytes (dvc.lock's md5 of evaluate's output)."""
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    outs = lock["stages"]["evaluate"]["outs"]
    md5 = next(out["md5"] for out in outs if out["path"] == SERVED_MODEL)
    return repo / ".dvc/cache/files/md5" / md5[:2] / md5[2:]


def test_fetch_release_checks_tag_gate_and_hash(repo_copy: Path, tmp_path: Path) -> None:
    repo = repo_copy
    v1 = registry.register(repo).version
    registry.promote(repo, v1, stage="prod")
    card = json.loads((repo / pipeline_paths(repo).model_card).read_text())

    release = deploy.fetch_release(repo, "champion#prod#1", tmp_path / "one")
    served = Path(SERVED_MODEL).name
    assert (release.stage, release.version, release.model_file) == ("prod", v1, served)
    assert sha256_file(release.folder / release.model_file) == card["skops_sha256"]
    assert (release.folder / "model_card.json").read_bytes() == (
        repo / pipeline_paths(repo).model_card
    ).read_bytes()
    stats = repo / "data/prepared/train_stats.json"
    assert (release.folder / "train_stats.json").read_bytes() == stats.read_bytes()
    assert {oct(path.stat().st_mode & 0o777) for path in release.folder.iterdir()} == {"0o644"}

    for not_an_assignment in ["champion@v0.0.1", "other#prod#1", "nonsense"]:
        with pytest.raises(UserError, match="not a stage assignment of 'champion'"):
            deploy.fetch_release(repo, not_an_assignment, tmp_path / "no")

    (repo / "NOTES.txt").write_text("a second version, same outputs\n")
    commit_all(repo, "notes")
    v2 = registry.register(repo).version
    registry.promote(repo, v2, stage="prod")
    with pytest.raises(UserError, match=f"superseded: stage 'prod' is now champion@{v2}"):
        deploy.fetch_release(repo, "champion#prod#1", tmp_path / "old")
    assert deploy.fetch_release(repo, "champion#prod#2", tmp_path / "two").version == v2

    cached = model_cache_object(repo)
    original = cached.read_bytes()
    cached.chmod(0o644)
    cached.write_bytes(original + b"tampered")
    with pytest.raises(UserError, match="refusing the model: sha256"):
        deploy.fetch_release(repo, "champion#prod#2", tmp_path / "tampered")
    cached.write_bytes(original)

    # A version whose gate failed, tagged with GTO directly (regpipe-registry would refuse it).
    evaluation = json.loads((repo / pipeline_paths(repo).evaluate_metrics).read_text())
    evaluation["gate"] |= {"passed": False, "reasons": ["test R² 0.1 below the minimum 0.4"]}
    (repo / pipeline_paths(repo).evaluate_metrics).write_text(json.dumps(evaluation))
    commit_all(repo, "a failed gate")
    time.sleep(1.1)  # GTO orders tags by their whole-second dates
    gto.api.register(str(repo), "champion", "HEAD", version="v0.0.3")
    time.sleep(1.1)
    gto.api.assign(str(repo), "champion", "prod", version="v0.0.3")
    with pytest.raises(UserError, match="deploy champion#prod#3 .* gate failed: test R"):
        deploy.fetch_release(repo, "champion#prod#3", tmp_path / "failed")


@pytest.mark.xdist_group("container")  # builds the image test_container.py builds
def test_deploy_builds_and_runs_the_tagged_version(
    repo_copy: Path, tmp_path: Path, engine: deploy.Engine, base_image: str | None
) -> None:
    repo = repo_copy
    v1 = registry.register(repo).version
    registry.promote(repo, v1, stage="prod")
    args = ["--repo", str(repo), "--out-dir", str(tmp_path / "deploy"), "--image", IMAGE]
    args += ["--port", str(free_port())] + (["--base-image", base_image] if base_image else [])
    result = sh("regpipe-deploy", "champion#prod#1", *args, cwd=repo)
    summary = result.stdout.strip().splitlines()[-1]
    assert summary.startswith(f"deployed champion#prod#1 (champion@{v1}): image {IMAGE} built")
    assert "/predict answered" in summary and summary.endswith("(container removed)")
    container = summary.split("container ")[1].split()[0]
    assert engine("ps", "--all", "--filter", f"name=^{container}$", "--format", "{{.Names}}") == ""

    refused = sh("regpipe-deploy", "champion#prod#9", *args, cwd=repo, check=False)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "champion#prod#9: no such tag" in refused.stderr


def test_workflow_runs_the_deploy_script_on_prod_tags() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    assert workflow[True]["push"]["tags"] == ["champion#prod#*"]  # YAML 1.1 reads `on` as True
    steps = [step for job in workflow["jobs"].values() for step in job["steps"]]
    commands = "\n".join(step.get("run", "") for step in steps)
    assert 'regpipe-deploy "$TAG"' in commands
    for step in steps:
        if step.get("uses", "").startswith("actions/checkout@"):
            assert step["with"]["persist-credentials"] is False
        if "uses" in step:
            assert len(step["uses"].split("@")[1]) == 40, "pinned to a commit SHA"
