"""The registry on real git, dvc and gto: register, promote, roll back, restore, refuse, verify."""

import hashlib
import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import yaml

from regpipe import registry, registry_cli
from regpipe.errors import UserError
from regpipe.io import load_model, read_table, sha256_file
from regpipe.pipeline_paths import pipeline_paths
from tests.helpers import commit_all, edit_params, sh
from tests.serving import running_server

CLI = "regpipe-registry"


def cli(repo: Path, *args: str, check: bool = True):
    return sh(CLI, "--repo", str(repo), *args, cwd=repo, check=check)


def refused(repo: Path, *args: str) -> str:
    """Run a registry command that must fail cleanly; return its message."""
    result = cli(repo, *args, check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return result.stderr


def predictions(model: object, repo: Path) -> np.ndarray:
    X = read_table(repo / "data/prepared/test.parquet").drop(columns="target")
    return model.predict(X)


def test_register_promote_change_rollback_restore(
    repo_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    repo = repo_copy
    cli(repo, "register")
    v1 = "v0.0.1"
    assert sh("git", "cat-file", "-t", f"champion@{v1}", cwd=repo).stdout.strip() == "tag"
    registry.promote(repo, v1, stage="prod")
    v1_lock = yaml.safe_load(sh("git", "show", f"champion@{v1}:dvc.lock", cwd=repo).stdout)
    v1_card = json.loads((repo / pipeline_paths(repo).model_card).read_text())
    v1_sha = v1_card["skops_sha256"]  # the registry serves the skops file
    v1_joblib = load_model(repo / "models/champion.joblib", sha256=v1_card["sha256"])
    v1_predictions = predictions(v1_joblib, repo)

    assert "already registered in this commit" in refused(repo, "register")
    with pytest.raises(UserError, match="unknown stage 'production'; valid stages"):
        registry.promote(repo, v1, stage="production")
    with pytest.raises(UserError, match="unknown version 'v9.9.9'"):
        registry.promote(repo, "v9.9.9", stage="prod")

    # a worse LASSO: the champion file changes
    edit_params(repo / "params.yaml", {"train_lasso.alpha": 1.0})
    sh("dvc", "repro", cwd=repo)
    commit_all(repo, "lasso alpha 1.0")
    with pytest.raises(UserError, match="'v0.0.1' already was registered"):
        registry.register(repo, version=v1)
    assert registry.register(repo).version == "v0.0.2"
    registry.promote(repo, "v0.0.2", stage="prod")
    v2_ref = registry.fetch_model(repo, stage="prod", out_dir=tmp_path / "v2")
    assert (v2_ref.version, v2_ref.stage) == ("v0.0.2", "prod")
    assert v2_ref.sha256 != v1_sha

    assert "rolled back to champion@v0.0.1" in cli(repo, "rollback", "--stage", "prod").stdout
    prod = registry.fetch_model(repo, stage="prod", out_dir=tmp_path / "prod")
    assert (prod.version, prod.sha256) == (v1, v1_sha)
    assert prod.rev == sh("git", "rev-list", "-n1", f"champion@{v1}", cwd=repo).stdout.strip()
    assert sha256_file(prod.path) == v1_sha
    # The skops model, loaded without unpickling, predicts exactly what the joblib does.
    np.testing.assert_array_equal(predictions(prod.model, repo), v1_predictions)

    # GTO and DVC read the same tags: both see v1 back in prod.
    shown = json.loads(sh("gto", "show", "champion", "--json", cwd=repo).stdout)
    assert {v["version"]: [s["stage"] for s in v["stages"]] for v in shown} == {
        "v0.0.2": [],
        "v0.0.1": ["prod"],
    }
    assert "champion#prod#3" in sh("gto", "history", "champion", cwd=repo).stdout
    fetched = tmp_path / "dvc-get" / "model.joblib"
    fetched.parent.mkdir()
    sh("dvc", "artifacts", "get", ".", "champion", "--stage", "prod", "-o", str(fetched), cwd=repo)
    assert sha256_file(fetched) == v1_card["sha256"]  # the artifact stays the joblib

    listed = json.loads(cli(repo, "list", "--json").stdout)
    assert [(v["version"], v["stages"], v["gate"]["passed"]) for v in listed] == [
        ("v0.0.2", [], True),
        ("v0.0.1", ["prod"], True),
    ]
    assert listed[1]["baseline"]["rmse"] > listed[1]["metrics"]["rmse"]
    registry_cli.main(["--repo", str(repo), "list"])
    table = capsys.readouterr().out.splitlines()
    assert table[2].split()[:4] == [v1, listed[1]["created_at"], prod.rev[:7], "prod"]
    assert table[2].endswith("passed")
    registry_cli.main(["--repo", str(repo), "show", "--stage", "prod"])
    shown_prod = json.loads(capsys.readouterr().out)
    evaluation = sh("git", "show", f"{prod.rev}:metrics/evaluate.json", cwd=repo).stdout
    assert shown_prod["evaluation"] == json.loads(evaluation)
    out_dir = tmp_path / "cli-v2"
    registry_cli.main(
        ["--repo", str(repo), "checkout", "v0.0.2", "--model-only", "-o", str(out_dir)]
    )
    assert sha256_file(out_dir / "champion-v0.0.2.skops") == v2_ref.sha256

    cli(repo, "checkout", "--stage", "prod")
    for stage in v1_lock["stages"].values():
        for out in stage.get("outs", []):
            digest = hashlib.md5((repo / out["path"]).read_bytes()).hexdigest()
            assert digest == out["md5"], out["path"]


def test_register_refuses_a_dirty_tree_and_outputs_out_of_date(repo_copy: Path) -> None:
    params = repo_copy / "params.yaml"
    params.write_text(params.read_text() + "\n")
    assert "working tree is dirty" in refused(repo_copy, "register")
    sh("git", "checkout", "--", "params.yaml", cwd=repo_copy)

    lock = repo_copy / "dvc.lock"
    lock.write_text(lock.read_text() + "\n")
    with pytest.raises(UserError, match="dvc.lock has uncommitted changes"):
        registry.register(repo_copy)
    sh("git", "checkout", "--", "dvc.lock", cwd=repo_copy)

    model = repo_copy / "models/ols.joblib"
    model.unlink()
    model.write_bytes(b"not the model dvc.lock records")
    with pytest.raises(UserError, match=r"outputs differ from dvc.lock \(`dvc status`\) in "):
        registry.register(repo_copy)
    assert sh("git", "tag", cwd=repo_copy).stdout == ""


def test_a_failed_gate_is_neither_registered_nor_promoted(repo_copy: Path) -> None:
    import gto.api

    edit_params(repo_copy / "params.yaml", {"evaluate.gate.min_r2": 0.99})
    sh("dvc", "repro", cwd=repo_copy)
    commit_all(repo_copy, "an impossible R2 floor")
    message = refused(repo_copy, "register")
    assert "quality gate failed" in message and "0.99" in message

    gto.api.register(str(repo_copy), "champion", "HEAD")  # behind the registry's back
    assert "quality gate failed" in refused(repo_copy, "promote", "v0.0.1", "--stage", "prod")
    assert "champion#prod" not in sh("git", "tag", cwd=repo_copy).stdout


class CreatesMarker:
    """A pickle payload: unpickling it creates a directory, proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


def test_a_tampered_model_is_refused_before_loading(repo_copy: Path, tmp_path: Path) -> None:
    cli(repo_copy, "register")
    lock = yaml.safe_load((repo_copy / "dvc.lock").read_text())
    md5 = next(
        out["md5"]
        for out in lock["stages"]["evaluate"]["outs"]
        if out["path"] == "models/champion.skops"
    )
    cached = repo_copy / ".dvc/cache/files/md5" / md5[:2] / md5[2:]
    marker = tmp_path / "unpickled"
    cached.chmod(0o644)
    cached.write_bytes(pickle.dumps(CreatesMarker(marker)))

    with pytest.raises(UserError, match="refusing the model: sha256"):
        registry.fetch_model(repo_copy, version="v0.0.1", out_dir=tmp_path / "out")
    assert "refusing the model" in refused(
        repo_copy, "checkout", "v0.0.1", "--model-only", "-o", str(tmp_path / "cli")
    )
    card = registry.model_card_at(repo_copy, "HEAD")
    with pytest.raises(UserError, match="refusing to load"):
        load_model(cached, sha256=card.skops_sha256)
    assert not marker.exists()
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())

    load_model(cached)  # without the check the payload runs: the refusal is what saved us
    assert marker.is_dir()


def test_fetch_model_without_tags_says_so(built_repo: Path, tmp_path: Path) -> None:
    with pytest.raises(registry.NoRegisteredVersion):
        registry.fetch_model(built_repo, stage="prod", out_dir=tmp_path)
    with pytest.raises(UserError, match="unknown stage"):
        registry.fetch_model(built_repo, stage="qa", out_dir=tmp_path)


def test_pushed_tags_and_data_serve_a_fresh_clone(repo_copy: Path, tmp_path: Path) -> None:
    """The README's publishing commands are enough for another machine to fetch prod."""
    registry.register(repo_copy)
    registry.promote(repo_copy, "v0.0.1", stage="prod")
    sh("git", "init", "-q", "--bare", "-b", "main", str(tmp_path / "origin.git"), cwd=tmp_path)
    sh("git", "remote", "add", "origin", str(tmp_path / "origin.git"), cwd=repo_copy)
    sh("git", "push", "-q", "origin", "main", cwd=repo_copy)
    sh("bash", "-c", "git push -q origin 'champion#prod#1'", cwd=repo_copy)  # one tag, quoted
    pushed = sh("git", "ls-remote", "--tags", "--refs", "origin", cwd=repo_copy).stdout.split()
    assert pushed[1::2] == ["refs/tags/champion#prod#1"]
    sh("git", "push", "-q", "origin", "--tags", cwd=repo_copy)
    sh("dvc", "push", cwd=repo_copy)  # the default remote: a folder beside the clone

    clone = tmp_path / "clone"
    sh("git", "clone", "-q", str(tmp_path / "origin.git"), str(clone), cwd=tmp_path)
    assert (clone / "dvc.lock").is_file() and not (clone / "models/champion.joblib").exists()
    ref = registry.fetch_model(clone, stage="prod", out_dir=tmp_path / "deploy")
    expected = registry.model_card_at(repo_copy, "champion@v0.0.1")
    assert (ref.version, ref.sha256) == ("v0.0.1", expected.skops_sha256)


def test_a_malformed_card_at_a_registered_version_is_refused_in_one_line(
    repo_copy: Path, tmp_path: Path
) -> None:
    """A card committed by an older pipeline (no sha256) or cut short (not JSON), registered
    behind the registry's back: checkout, fetch and the service name the file and the version
    in one line, no traceback, and the workspace does not move."""
    import gto.api

    repo = repo_copy
    card_path = repo / pipeline_paths(repo).model_card
    original = card_path.read_bytes()
    card = json.loads(original)
    card_path.write_text(json.dumps({k: v for k, v in card.items() if k != "sha256"}))
    commit_all(repo, "a card without sha256")
    gto.api.register(str(repo), "champion", "HEAD", version="v0.0.1")
    card_path.write_text(json.dumps(card)[:100])
    commit_all(repo, "a card cut short")
    gto.api.register(str(repo), "champion", "HEAD", version="v0.0.2")
    gto.api.assign(str(repo), "champion", "prod", version="v0.0.2")
    card_path.write_bytes(original)  # HEAD is sound again: only the versions are not
    commit_all(repo, "the card restored")
    head = sh("git", "rev-parse", "HEAD", cwd=repo).stdout

    def one_line(message: str) -> str:
        assert "Traceback" not in message and message.count("\n") == 1, message
        return message

    rev1 = sh("git", "rev-list", "-n1", "champion@v0.0.1", cwd=repo).stdout[:12]
    missing = one_line(refused(repo, "checkout", "v0.0.1"))
    assert missing.startswith(
        f"error: metrics/model_card.json at champion@v0.0.1 ({rev1}): not a valid ModelCard "
        "report: sha256: Field required (1 problem(s))"
    )
    assert sh("git", "rev-parse", "HEAD", cwd=repo).stdout == head, "the workspace moved"
    out = tmp_path / "model"
    cut = one_line(refused(repo, "checkout", "v0.0.2", "--model-only", "-o", str(out)))
    assert "metrics/model_card.json at champion@v0.0.2 (" in cut and "not valid JSON" in cut
    assert not out.exists() or not any(out.iterdir())

    # the service starts, answers /health with 503 and the reason; batch predict exits 1
    with running_server(repo) as client:
        health = client.get("/health")
    assert health.status_code == 503
    assert health.json()["error"].startswith("metrics/model_card.json at champion@v0.0.2 (")
    assert "not valid JSON" in health.json()["error"]
    server_logs = "".join(path.read_text() for path in repo.parent.glob("server-*.log"))
    assert "Traceback" not in server_logs
    (tmp_path / "in.csv").write_text("age\n1\n")
    predicted = sh(
        "python", "-m", "regpipe.serve", "predict", str(tmp_path / "in.csv"), str(out / "o.csv"),
        cwd=repo, check=False,
    )  # fmt: skip
    assert predicted.returncode == 1 and "not valid JSON" in one_line(predicted.stderr)

    # evaluate metrics that do not fit: `list` still lists every version, `show` refuses
    evaluate_path = repo / pipeline_paths(repo).evaluate_metrics
    evaluate_path.write_text(evaluate_path.read_text().replace('"champion"', '"winner"'))
    commit_all(repo, "evaluate metrics from another pipeline")
    gto.api.register(str(repo), "champion", "HEAD", version="v0.0.3")
    listed = {row["version"]: row for row in json.loads(cli(repo, "list", "--json").stdout)}
    assert listed.keys() == {"v0.0.1", "v0.0.2", "v0.0.3"}
    unreadable = listed["v0.0.3"]["error"]
    assert unreadable.startswith("metrics/evaluate.json at champion@v0.0.3 (")
    assert "not a valid Evaluation report: champion: Field required" in unreadable
    assert listed["v0.0.2"]["gate"]["passed"] is True and "error" not in listed["v0.0.2"]
    table = cli(repo, "list").stdout
    assert "UNREADABLE: metrics/evaluate.json at champion@v0.0.3" in table
    assert "champion: Field required" in one_line(refused(repo, "show", "v0.0.3"))
