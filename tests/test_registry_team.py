"""A team's registry across clones: a publisher publishes, a consumer's fresh clone serves prod.

A bare git repository is `origin`; the DVC remote is the default one (`make setup` pins its
absolute URL); the publisher and the consumer are separate clones; git, dvc, gto and the service
(uvicorn on 127.0.0.1) are the real ones.
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from regpipe import registry
from regpipe.io import load_safe_model, read_json, sha256_file
from tests.helpers import commit_all, edit_params, sh
from tests.serving import running_server
from tests.test_registry import cli, refused

pytestmark = [pytest.mark.pipeline, pytest.mark.service, pytest.mark.slow]


def champion_md5(repo: Path, rev: str, path: str = "models/champion.skops") -> str:
    lock = yaml.safe_load(sh("git", "show", f"{rev}:dvc.lock", cwd=repo).stdout)
    outs = lock["stages"]["evaluate"]["outs"]
    return next(out["md5"] for out in outs if out["path"] == path)


def remote_object(storage: Path, md5: str) -> Path:
    return storage / "files/md5" / md5[:2] / md5[2:]


def test_publish_then_consume_from_a_fresh_clone_and_follow_a_rollback(
    repo_copy: Path, tmp_path: Path
) -> None:
    publisher, storage = repo_copy, tmp_path / "regpipe-dvc-storage"
    origin = tmp_path / "origin.git"
    sh("git", "init", "-q", "--bare", "-b", "main", str(origin), cwd=tmp_path)
    sh("git", "remote", "add", "origin", str(origin), cwd=publisher)
    sh("make", ".dvc/config.local", cwd=publisher)  # what `make setup` writes
    assert f"url = {storage}" in (publisher / ".dvc/config.local").read_text()

    # v0.0.1 in prod, then a different champion as v0.0.2 in prod (the CLI: test_registry.py).
    registry.register(publisher)
    registry.promote(publisher, "v0.0.1", stage="prod")
    edit_params(publisher / "params.yaml", {"train_lasso.alpha": 1.0})
    sh("dvc", "repro", cwd=publisher)
    commit_all(publisher, "lasso alpha 1.0")
    registry.register(publisher)
    registry.promote(publisher, "v0.0.2", stage="prod")
    sh("git", "push", "-q", "origin", "main", cwd=publisher)
    published = cli(publisher, "publish")
    assert published.stdout.startswith("published 2 versions of champion: ")
    assert f"to 'local' ({storage})" in published.stdout
    assert "4 registry tags on 'origin' (4 new)" in published.stdout
    assert "dvc push to local" in published.stderr  # progress on stderr
    versions = {
        v: sh("git", "rev-parse", f"champion@{v}", cwd=publisher).stdout
        for v in ("v0.0.1", "v0.0.2")
    }
    md5s = {version: champion_md5(publisher, f"champion@{version}") for version in versions}
    assert len(set(md5s.values())) == 2
    assert all(remote_object(storage, md5).is_file() for md5 in md5s.values())
    again = cli(publisher, "publish").stdout
    assert "0 DVC objects uploaded" in again and "(0 new)" in again

    # The consumer: git clone, then `make setup` (here only its remote step: the venv exists).
    consumer = tmp_path / "consumer"
    sh("git", "clone", "-q", str(origin), str(consumer), cwd=tmp_path)
    sh("make", ".dvc/config.local", cwd=consumer)
    assert not (consumer / "models/champion.joblib").exists()
    listed = json.loads(cli(consumer, "list", "--json").stdout)
    assert [(v["version"], v["stages"]) for v in listed] == [("v0.0.2", ["prod"]), ("v0.0.1", [])]
    deploy = tmp_path / "deploy"
    fetched = cli(consumer, "checkout", "--stage", "prod", "--model-only", "-o", str(deploy))
    cards = {v: registry.model_card_at(publisher, f"champion@{v}") for v in versions}
    assert sha256_file(deploy / "champion-v0.0.2.skops") == cards["v0.0.2"].skops_sha256
    assert "(champion@v0.0.2)" in fetched.stdout
    by_dvc = tmp_path / "dvc-get.joblib"
    sh(
        "dvc",
        "artifacts",
        "get",
        ".",
        "champion",
        "--stage",
        "prod",
        "-o",
        str(by_dvc),
        cwd=consumer,
    )
    assert sha256_file(by_dvc) == cards["v0.0.2"].sha256

    # `make serve` in the consumer's clone (what it runs), then follow the publisher's rollback.
    stats = read_json(publisher / "data/prepared/train_stats.json")
    records = [{name: stats[name]["mean"] for name in stats if name != "target"}]
    X = pd.DataFrame(records)
    with running_server(consumer) as client:
        health = client.get("/health").json()
        assert (health["version"], health["source"]) == ("v0.0.2", "registry")
        answer = client.post("/predict", json=records).json()
        expected = load_safe_model(
            deploy / "champion-v0.0.2.skops", sha256=cards["v0.0.2"].skops_sha256
        )
        np.testing.assert_allclose(answer["predictions"], expected.predict(X), rtol=1e-12)

        cli(publisher, "rollback", "--stage", "prod")
        assert "(1 new)" in cli(publisher, "publish").stdout
        sh("git", "fetch", "-q", "--tags", "origin", cwd=consumer)  # the documented fetch
        reloaded = client.post("/reload")
        assert reloaded.status_code == 200, reloaded.text
        assert reloaded.json()["version"] == "v0.0.1"
        assert reloaded.json()["sha256"] == cards["v0.0.1"].sha256
        answer = client.post("/predict", json=records).json()
        assert answer["model_version"] == "v0.0.1"

    # An object the remote lost: one line naming the version, the file and the remote.
    remote_object(storage, md5s["v0.0.2"]).unlink()
    sh("rm", "-rf", ".dvc/cache", cwd=consumer)
    message = refused(consumer, "checkout", "v0.0.2", "--model-only", "-o", str(tmp_path / "lost"))
    assert message.strip() == (
        "error: champion@v0.0.2: models/champion.skops is neither in the local DVC cache nor on "
        f"the DVC remote 'local' ({storage}); the publisher runs `regpipe-registry publish`"
    )
