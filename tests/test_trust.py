"""Issue 15's attacks replayed for real: crafted model files whose payload would write a file,
an uncommitted model card, a full disk under the prediction log, files written 0600, and a
service whose event loop stalls behind large batches."""

import json
import os
import pickle
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skops.io

from regpipe import registry
from regpipe.drift import read_request_log
from regpipe.errors import UserError
from regpipe.io import (
    load_model,
    load_safe_model,
    read_json,
    save_model,
    save_safe_model,
    sha256_file,
    write_json,
)
from regpipe.models import make_pipeline
from regpipe.pipeline_paths import pipeline_paths
from regpipe.serve import load_served_model, load_settings
from tests.helpers import command_env, sh
from tests.serving import FEATURES, read_log_lines, running_server, tiny_workspace

PAYLOAD_MODULE = '''
from pathlib import Path


class WritesMarker:
    """Writes the file it names as soon as it is built from a model file: proof that code ran."""

    def __init__(self, marker):
        self.marker = marker

    def __setstate__(self, state):
        Path(state["marker"]).write_text("payload ran")
        self.__dict__.update(state)

    def __reduce__(self):
        return (Path(self.marker).write_text, ("payload ran",))
'''


@pytest.fixture
def payload(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The payload class, importable (as an attacker's package would be), and its marker path."""
    (tmp_path / "payload_module.py").write_text(PAYLOAD_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    import payload_module

    marker = tmp_path / "payload-ran"
    yield payload_module.WritesMarker(str(marker)), marker
    sys.modules.pop("payload_module", None)


def crafted_skops(writes_marker: object) -> bytes:
    """A skops file of a 'model' with the payload object as its last step."""
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    return skops.io.dumps(Pipeline([("scaler", StandardScaler()), ("model", writes_marker)]))


def fitted_models() -> tuple[pd.DataFrame, dict[str, object]]:
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(60, 3)), columns=["a", "b", "c"])
    X["colour"] = rng.choice(["red", "green", "blue"], size=60)
    y = X["a"] * 3 - X["b"] + (X["colour"] == "red") * 2 + rng.normal(size=60)
    models = {
        "ols": make_pipeline("ols"),
        "ridge": make_pipeline("ridge", alpha=0.5),
        "lasso": make_pipeline("lasso", alpha=0.05, max_iter=10_000),
    }
    return X, {name: model.fit(X, y) for name, model in models.items()}


# --- the safe format ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["ols", "ridge", "lasso"])
def test_the_skops_model_predicts_exactly_what_the_joblib_does(tmp_path: Path, name: str) -> None:
    X, models = fitted_models()
    save_model(models[name], tmp_path / "m.joblib")
    save_safe_model(models[name], tmp_path / "m.skops")
    save_safe_model(models[name], tmp_path / "again.skops")
    assert sha256_file(tmp_path / "m.skops") == sha256_file(tmp_path / "again.skops")
    safe = load_safe_model(tmp_path / "m.skops", sha256=sha256_file(tmp_path / "m.skops"))
    joblib_model = load_model(tmp_path / "m.joblib")
    X_new = X.assign(colour=["purple", *X["colour"][1:]])  # an unseen level too
    np.testing.assert_array_equal(safe.predict(X_new), joblib_model.predict(X_new))


def test_a_crafted_skops_payload_is_real_and_never_runs(tmp_path: Path, payload) -> None:
    writes_marker, marker = payload
    path = tmp_path / "model.skops"
    path.write_bytes(crafted_skops(writes_marker))
    with pytest.raises(UserError, match="types outside the allowlist.*payload_module.WritesMarker"):
        load_safe_model(path, sha256=sha256_file(path))
    assert not marker.exists()
    skops.io.load(path, trusted=["payload_module.WritesMarker"])  # what the allowlist prevents
    assert marker.read_text() == "payload ran"


def test_a_pickle_is_not_a_skops_file(tmp_path: Path, payload) -> None:
    writes_marker, marker = payload
    path = tmp_path / "model.skops"
    path.write_bytes(pickle.dumps(writes_marker))
    with pytest.raises(UserError, match="not a skops model file"):
        load_safe_model(path, sha256=sha256_file(path))
    assert not marker.exists()


def predict_workspace(workspace: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    pd.DataFrame([{"age": 0.1, "bmi": 0.2, "bp": 0.3}]).to_csv(tmp_path / "in.csv", index=False)
    return subprocess.run(
        [sys.executable, "-m", "regpipe.serve", "predict", "--workspace"]
        + [str(tmp_path / "in.csv"), str(tmp_path / "out.csv")],
        cwd=workspace,
        env=command_env(),
        capture_output=True,
        text=True,
    )


@pytest.mark.process
@pytest.mark.parametrize("kind", ["skops", "pickle"])
def test_crafted_workspace_models_with_matching_cards_never_run(
    tmp_path: Path, payload, kind: str
) -> None:
    """The issue's first attack, even with the card trusted (a mounted card, no git): the
    payload module is importable from the working directory and still never runs."""
    writes_marker, marker = payload
    workspace = tiny_workspace(tmp_path / "repo")
    (workspace / "payload_module.py").write_text(PAYLOAD_MODULE)
    crafted = crafted_skops(writes_marker) if kind == "skops" else pickle.dumps(writes_marker)
    for name in ("champion.skops", "champion.joblib"):
        (workspace / "models" / name).write_bytes(crafted)
    card = read_json(workspace / "metrics/model_card.json")
    digest = sha256_file(workspace / "models/champion.skops")
    write_json(
        {**card, "sha256": digest, "skops_sha256": digest}, workspace / "metrics/model_card.json"
    )

    result = predict_workspace(workspace, tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    expected = "types outside the allowlist" if kind == "skops" else "not a skops model file"
    assert expected in result.stderr
    assert not marker.exists() and not (tmp_path / "out.csv").exists()


# --- --workspace trusts only the card committed at HEAD --------------------------------------


def committed_workspace(path: Path) -> Path:
    workspace = tiny_workspace(path)
    sh("git", "init", "-q", cwd=workspace)
    sh("git", "config", "user.name", "regpipe tests", cwd=workspace)
    sh("git", "config", "user.email", "tests@regpipe.invalid", cwd=workspace)
    sh("git", "add", "metrics", "params.yaml", cwd=workspace)
    sh("git", "commit", "-q", "-m", "the card", cwd=workspace)
    return workspace


@pytest.mark.pipeline
def test_workspace_refuses_a_card_or_model_that_differs_from_head(tmp_path: Path) -> None:
    workspace = committed_workspace(tmp_path / "repo")
    settings = load_settings(workspace / "params.yaml", {}, {"use_registry": False})
    assert (
        load_served_model(settings, workspace).sha256
        == read_json(workspace / "metrics/model_card.json")["sha256"]
    )

    _, models = fitted_models()
    other = make_pipeline("ridge", alpha=3.0).fit(
        pd.DataFrame(np.eye(3) * 2, columns=FEATURES), [1.0, 2.0, 3.0]
    )
    save_safe_model(other, workspace / "models/champion.skops")
    card_path = workspace / "metrics/model_card.json"
    card = read_json(card_path)
    write_json(
        {**card, "skops_sha256": sha256_file(workspace / "models/champion.skops")}, card_path
    )
    result = predict_workspace(workspace, tmp_path)  # the attack: model + uncommitted card
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "differs from the card committed at HEAD" in result.stderr

    sh("git", "checkout", "--", "metrics/model_card.json", cwd=workspace)
    with pytest.raises(UserError, match=r"sha256 \w+ differs .*\(the card committed at HEAD\)"):
        load_served_model(settings, workspace)

    sh("git", "rm", "-q", "--cached", "metrics/model_card.json", cwd=workspace)
    sh("git", "commit", "-q", "-m", "untrack the card", cwd=workspace)
    with pytest.raises(UserError, match="not committed at HEAD"):
        load_served_model(settings, workspace)


# --- the registry ---------------------------------------------------------------------------


def test_registry_refuses_old_versions_and_crafted_committed_models(
    repo_copy: Path, tmp_path: Path, payload
) -> None:
    """The issue's second attack: a crafted model committed with a matching card and registered
    by gto directly. Also: a version registered before the skops file existed."""
    import gto.api

    writes_marker, marker = payload
    card_path = repo_copy / pipeline_paths(repo_copy).model_card
    card = read_json(card_path)
    write_json({key: value for key, value in card.items() if key != "skops_sha256"}, card_path)
    sh("git", "commit", "-q", "-am", "a card from before skops", cwd=repo_copy)
    gto.api.register(str(repo_copy), "champion", "HEAD", version="v0.0.1")
    with pytest.raises(UserError, match="has no skops model .* re-register it"):
        registry.fetch_model(repo_copy, version="v0.0.1", out_dir=tmp_path / "old")

    model = repo_copy / "models/champion.skops"
    model.unlink()  # a link into the DVC cache
    model.write_bytes(crafted_skops(writes_marker))
    write_json({**card, "skops_sha256": sha256_file(model)}, card_path)
    sh("dvc", "commit", "-q", "-f", cwd=repo_copy)
    sh("git", "commit", "-q", "-am", "a crafted model", cwd=repo_copy)
    gto.api.register(str(repo_copy), "champion", "HEAD", version="v0.0.2")
    with pytest.raises(UserError, match="refusing to load: types outside the allowlist"):
        registry.fetch_model(repo_copy, version="v0.0.2", out_dir=tmp_path / "crafted")
    assert not marker.exists()
    assert not (tmp_path / "crafted").exists()


# --- the prediction log on a full disk ------------------------------------------------------

LOG_LIMIT = 40_000  # bytes: RLIMIT_FSIZE of the server, so the fourth 100-record write fails


def limit_file_size() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (LOG_LIMIT, LOG_LIMIT))


def batch(seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.normal(size=(100, 3)), columns=FEATURES).to_dict("records")


@pytest.mark.service
@pytest.mark.parametrize("required", [True, False])
def test_a_full_disk_loses_no_prediction_silently(tmp_path: Path, required: bool) -> None:
    """The file size limit makes the kernel refuse writes past LOG_LIMIT bytes (EFBIG), as a
    full disk does (ENOSPC): a request's lines are cut part-way through."""
    workspace = tiny_workspace(tmp_path / "repo", max_batch=100, max_body_bytes=1 << 20)
    log = workspace / "logs/predictions.jsonl"
    env = {"REGPIPE_SERVE_LOG_REQUIRED": str(required).lower()}
    answered, refused = 0, []
    with running_server(workspace, "--workspace", env=env, preexec_fn=limit_file_size) as client:
        for seed in range(8):
            response = client.post("/predict", json=batch(seed))
            if response.status_code == 200:
                answered += 1
            else:
                refused.append(response)
        health = client.get("/health").json()

    failed = 8 - answered if required else health["log_failures"]
    assert failed >= 4 and health["log_failures"] == failed and health["log_failing"]
    assert health["status"] == "degraded" and "File too large" in health["log_error"]
    if required:
        assert all(r.status_code == 503 for r in refused)
        assert "the prediction log failed" in refused[0].json()["detail"]
        assert "no prediction returned (serve.log_required)" in refused[0].json()["detail"]
        logged_requests = answered
    else:
        assert answered == 8
        logged_requests = 8 - failed
    text = log.read_text()
    assert text.endswith("\n"), "a cut write is taken back: no partial line"
    assert len(read_log_lines(log)) == 100 * logged_requests
    assert len(read_request_log(log)) == 100 * logged_requests


def test_the_drift_reader_skips_and_counts_a_cut_last_line(tmp_path: Path) -> None:
    line = json.dumps({"timestamp": "t", "model_version": "v", "inputs": {"a": 1.0}})
    log = tmp_path / "predictions.jsonl"
    log.write_text(f"{line}\n{line}\n{line[:25]}")  # the old service's disk-full leftovers
    frame = read_request_log(log)
    assert len(frame) == 2 and frame.attrs["damaged_lines"] == [f"{log}:3"]

    log.write_text(f"{line}\n{line[:25]}\n{line}\n")
    with pytest.raises(UserError, match=f"{log}:2: not valid JSON"):
        read_request_log(log)


# --- permissions ------------------------------------------------------------------------------


@pytest.mark.process
@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o027, 0o640)])
def test_written_files_get_the_umask_permissions(tmp_path: Path, umask: int, mode: int) -> None:
    code = (
        "import sys; from pathlib import Path\n"
        "from regpipe.io import write_json\n"
        "from regpipe.serve import PredictionLog\n"
        "write_json({'a': 1}, Path(sys.argv[1]) / 'card.json')\n"
        "PredictionLog(Path(sys.argv[1]) / 'log.jsonl', max_bytes=2048, backups=1)\n"
    )
    subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        check=True,
        env=command_env(),
        preexec_fn=lambda: os.umask(umask),
    )
    for name in ("card.json", "log.jsonl"):
        assert (tmp_path / name).stat().st_mode & 0o777 == mode, name


# --- the event loop ---------------------------------------------------------------------------


@pytest.mark.service
def test_health_does_not_wait_for_large_batches(tmp_path: Path) -> None:
    """Functional check (the latency goal is in bench/README.md): while one large batch is
    scored, /health keeps answering; no single wait approaches the batch's own time."""
    import httpx

    rows = 100_000
    workspace = tiny_workspace(tmp_path / "repo", max_batch=rows, max_body_bytes=1 << 24)
    records = pd.DataFrame(
        np.random.default_rng(0).normal(size=(rows, 3)), columns=FEATURES
    ).to_dict("records")
    body = json.dumps(records).encode()
    batch_done = threading.Event()
    batch_status: list[int] = []

    def post_batch(url: str) -> None:
        try:
            with httpx.Client(base_url=url, timeout=120) as poster:
                response = poster.post(
                    "/predict", content=body, headers={"content-type": "application/json"}
                )
            batch_status.append(response.status_code)
        finally:
            batch_done.set()

    with running_server(workspace, "--workspace") as client:
        poster = threading.Thread(target=post_batch, args=(str(client.base_url),))
        poster.start()
        started = time.perf_counter()
        answered = [started]
        while not batch_done.is_set():
            assert client.get("/health").status_code == 200
            answered.append(time.perf_counter())
        batch_seconds = time.perf_counter() - started
        poster.join()
    longest_wait = float(np.diff(answered).max())
    assert batch_status == [200]
    # scored on the event loop, /health would wait about 70% of the batch in one stretch
    assert longest_wait < batch_seconds / 2, (longest_wait, batch_seconds)
