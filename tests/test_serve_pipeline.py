"""The service on the real pipeline: the registry's prod model through promotion and rollback,
reloaded under load, and its request log feeding the drift check."""

import threading
from pathlib import Path

import httpx
import pandas as pd
import pytest

from regpipe import registry
from regpipe.drift import data_drift, drift_settings, read_request_log
from regpipe.io import load_model, read_json
from regpipe.params import load_params
from tests.helpers import edit_params, sh
from tests.serving import running_server

pytestmark = [pytest.mark.pipeline, pytest.mark.service]


def features_of(repo: Path) -> list[str]:
    return [name for name in read_json(repo / "data/prepared/train_stats.json") if name != "target"]


def workspace_predictions(repo: Path, records: list[dict]) -> list[float]:
    """What the workspace champion predicts in-process (the reference for the HTTP answers)."""
    card = read_json(repo / "metrics/model_card.json")
    model = load_model(repo / "models/champion.joblib", sha256=card["sha256"])
    return model.predict(pd.DataFrame(records, columns=features_of(repo))).tolist()


def predict(client: httpx.Client, records: list[dict]) -> dict:
    response = client.post("/predict", json=records)
    assert response.status_code == 200, response.text
    return response.json()


def reload_while_predicting(client: httpx.Client, records: list[dict]) -> tuple[dict, set[str]]:
    """POST /reload while another connection keeps predicting; every request must succeed."""
    statuses, versions, stop = [], set(), threading.Event()

    def hammer() -> None:
        with httpx.Client(base_url=client.base_url, timeout=30) as other:
            while not stop.is_set():
                response = other.post("/predict", json=records[:1])
                statuses.append(response.status_code)
                versions.add(response.json().get("model_version"))

    thread = threading.Thread(target=hammer)
    thread.start()
    try:
        reloaded = client.post("/reload")
    finally:
        stop.set()
        thread.join()
    assert reloaded.status_code == 200, reloaded.text
    assert statuses and set(statuses) == {200}, "no request in flight was dropped"
    return reloaded.json(), versions


def test_serves_prod_then_the_promoted_version_then_the_rolled_back_one(
    repo_copy: Path, tmp_path: Path
) -> None:
    repo = repo_copy
    records = pd.read_parquet(repo / "data/prepared/test.parquet")[features_of(repo)].head(5)
    records = records.to_dict("records")
    v1 = registry.register(repo, version="v1.0.0")
    registry.promote(repo, "v1.0.0", stage="prod")
    v1_expected = workspace_predictions(repo, records)

    # v2: a fixed LASSO alpha changes the champion; the workspace now holds v2's files.
    edit_params(repo / "params.yaml", {"train_lasso.alpha": 1.0})
    sh("dvc", "repro", cwd=repo)
    sh("git", "commit", "-qam", "lasso alpha 1.0", cwd=repo)
    v2_expected = workspace_predictions(repo, records)
    assert v2_expected != pytest.approx(v1_expected), "v2 is a different model"
    registry.register(repo, version="v1.0.1")

    with running_server(repo, "--log-path", str(tmp_path / "predictions.jsonl")) as client:
        health = client.get("/health").json()
        assert (health["version"], health["source"], health["stage"]) == (
            "v1.0.0",
            "registry",
            "prod",
        )
        assert health["git_revision"] == v1.rev
        first = predict(client, records)
        assert first["model_version"] == "v1.0.0"
        assert first["predictions"] == pytest.approx(v1_expected, rel=1e-12)

        registry.promote(repo, "v1.0.1", stage="prod")
        reloaded, seen = reload_while_predicting(client, records)
        assert reloaded["version"] == "v1.0.1"
        assert seen <= {"v1.0.0", "v1.0.1"}
        second = predict(client, records)
        assert second["model_version"] == "v1.0.1"
        assert second["predictions"] == pytest.approx(v2_expected, rel=1e-12)

        assert registry.rollback(repo, stage="prod").version == "v1.0.0"
        assert client.post("/reload").json()["version"] == "v1.0.0"
        third = predict(client, records)
        assert third["model_version"] == "v1.0.0"
        assert third["predictions"] == first["predictions"]

    logged = read_request_log(tmp_path / "predictions.jsonl")
    assert {"v1.0.0", "v1.0.1"} <= set(logged["model_version"])


def test_logged_requests_with_a_shifted_feature_are_flagged_as_drift(
    built_repo: Path, tmp_path: Path
) -> None:
    """500 single-record requests, bmi shifted by one training sd, read back as current data."""
    features = features_of(built_repo)
    train = pd.read_parquet(built_repo / "data/prepared/train.parquet")
    traffic = train[features].sample(n=500, replace=True, random_state=0)
    traffic["bmi"] += train["bmi"].std()
    log = tmp_path / "predictions.jsonl"
    # No registry tag in built_repo: the service falls back to the workspace champion.
    with running_server(built_repo, "--log-path", str(log)) as client:
        health = client.get("/health").json()
        assert health["source"] == "workspace"
        assert "registered (no git tags): serving the workspace champion" in health["note"]
        for record in traffic.to_dict("records"):
            assert client.post("/predict", json=record).status_code == 200

    current = read_request_log(log)
    assert len(current) == 500
    params = load_params("drift", built_repo / "params.yaml")
    report = data_drift(train, current, features, **drift_settings(params))
    drifted = sorted(name for name, result in report.items() if result.drift)
    assert drifted == ["bmi"]
    assert report["bmi"].test == "ks" and report["bmi"].p_value < 1e-6
