"""The prediction service: request validation, settings, the log, the batch command, and the real
server over HTTP (uvicorn subprocess on 127.0.0.1) on a tiny workspace with a real model."""

import json
import math
import re
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from regpipe.drift import read_request_log
from regpipe.errors import UserError
from regpipe.io import load_model, read_json
from regpipe.reports import ModelCard, read_report
from regpipe.serve import (
    InputError,
    PredictionLog,
    RecordValidator,
    ServedModel,
    load_settings,
    parse_json,
    predict_file,
)
from tests.helpers import sh
from tests.serving import FEATURES, read_log_lines, running_server, tiny_workspace

pytestmark = [pytest.mark.service, pytest.mark.xdist_group("serve")]

ROOT = Path(__file__).resolve().parents[1]
GOOD = {"age": 0.1, "bmi": -0.2, "bp": 3}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_workspace(tmp_path_factory.mktemp("serve") / "repo")


@pytest.fixture(scope="module")
def client(workspace: Path) -> httpx.Client:
    """The server, started while the model file is missing, then given it through /reload.

    What it answered before the reload is kept in ``client.without_model``.
    """
    model_file = workspace / "models/champion.skops"
    model_file.rename(workspace / "elsewhere.skops")
    with running_server(workspace, "--workspace") as client:
        client.without_model = {
            "health": client.get("/health"),
            "predict": client.post("/predict", json=GOOD),
            "metadata": client.get("/metadata"),
        }
        (workspace / "elsewhere.skops").rename(model_file)
        client.without_model["reload"] = client.post("/reload")
        yield client


@pytest.fixture(scope="module")
def model(workspace: Path) -> object:
    return load_model(workspace / "models/champion.joblib")


def expected(model: object, records: list[dict]) -> list[float]:
    return model.predict(pd.DataFrame(records, columns=FEATURES)).tolist()


# --- validation, in memory -------------------------------------------------------------------

VALIDATOR = RecordValidator(tuple(FEATURES))


@pytest.mark.parametrize(
    ("payload", "status", "loc", "message"),
    [
        ({**GOOD, "weight": 1.0}, 422, "weight", "unknown feature"),
        ({"age": 0.1, "bmi": 0.2}, 422, "bp", "Field required"),
        ({**GOOD, "bmi": "0.2"}, 422, "bmi", "valid number"),
        ({**GOOD, "bmi": True}, 422, "bmi", "valid number"),
        ({**GOOD, "bmi": None}, 422, "bmi", "valid number"),
        ({**GOOD, "bp": math.nan}, 422, "bp", "finite number"),
        ({**GOOD, "bp": -math.inf}, 422, "bp", "finite number"),
        ({**GOOD, "age": 10**400}, 422, "age", "valid number"),
        ([GOOD, {**GOOD, "age": "x"}], 422, "records[1].age", "valid number"),
        ([], 422, None, "empty batch"),
        ([GOOD] * 4, 413, None, "over the limit of 3"),
        ("age", 422, None, "JSON object"),
        ([GOOD, 3], 422, "records[1]", "valid dictionary"),
    ],
)
def test_invalid_records_name_the_field(
    payload: object, status: int, loc: str | None, message: str
) -> None:
    with pytest.raises(InputError) as raised:
        VALIDATOR.validate(payload, max_batch=3)
    assert raised.value.status == status
    assert message in str(raised.value)
    if loc is not None:
        assert loc in [error["loc"] for error in raised.value.errors]


def test_valid_records_keep_the_model_feature_order() -> None:
    X = VALIDATOR.validate([{"bp": 3, "age": 1.5, "bmi": -2.0}, GOOD], max_batch=3)
    assert X.tolist() == [[1.5, -2.0, 3.0], [0.1, -0.2, 3.0]]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"age": NaN}', "NaN is not a number"),
        (b'{"age": Infinity}', "Infinity is not a number"),
        (b'{"age": 1, "age": 2}', "duplicate key(s) ['age']"),
        (b'{"age": ', "not valid JSON"),
        (b"[" * 100_000, "not valid JSON"),
        (b"\xff\xfe\x00", "not valid JSON"),
        (b"", "empty body"),
    ],
)
def test_unreadable_json_is_a_400(body: bytes, message: str) -> None:
    with pytest.raises(InputError) as raised:
        parse_json(body)
    assert raised.value.status == 400
    assert message in str(raised.value)


# --- settings, log, batch command -------------------------------------------------------------


def test_settings_layer_params_then_environment_then_flags() -> None:
    environ = {"REGPIPE_SERVE_PORT": "9001", "REGPIPE_SERVE_VERSION": "v1.2.0"}
    settings_ = load_settings(ROOT / "params.yaml", environ, {"port": 9002, "stage": None})
    assert (settings_.port, settings_.version, settings_.stage) == (9002, "v1.2.0", "prod")
    assert load_settings(ROOT / "params.yaml", environ).port == 9001
    with pytest.raises(UserError, match=r"serve.max_batch: Input should be greater than"):
        load_settings(ROOT / "params.yaml", {"REGPIPE_SERVE_MAX_BATCH": "0"})
    with pytest.raises(UserError, match=r"serve.version: String should match"):
        load_settings(ROOT / "params.yaml", {"REGPIPE_SERVE_VERSION": "latest"})


def test_log_rotates_by_size_and_reads_back_whole(workspace: Path, model: object) -> None:
    served = ServedModel(
        model=model,
        name="champion",
        version="v9.9.9",
        stage=None,
        source="workspace",
        git_revision=None,
        sha256="x",
        card=read_report(ModelCard, workspace / "metrics/model_card.json"),
        training_stats={},
        note=None,
    )
    path = workspace / "rotating/predictions.jsonl"
    log = PredictionLog(path, max_bytes=300, backups=50)
    X = np.arange(30.0).reshape(10, 3)
    for start in range(0, 10, 2):  # five requests of two records
        log.write(
            served.version,
            served.validator.records(X[start : start + 2]),
            (X[start : start + 2, 0] * 10).tolist(),
        )
    assert len(list(path.parent.iterdir())) > 1, "the log rotated"
    frame = read_request_log(path)
    assert frame[FEATURES].to_numpy().tolist() == X.tolist(), "every record, oldest first"
    assert frame["prediction"].tolist() == (X[:, 0] * 10).tolist()
    assert set(frame["model_version"]) == {"v9.9.9"}


def test_batch_command_scores_a_file_and_refuses_bad_rows(
    workspace: Path, model: object, tmp_path: Path
) -> None:
    rows = [GOOD, {"age": 2.0, "bmi": 1.0, "bp": -1.0}]
    pd.DataFrame(rows).to_parquet(tmp_path / "in.parquet")
    settings_ = load_settings(workspace / "params.yaml", {}, {"use_registry": False})
    version = predict_file(settings_, tmp_path / "in.parquet", tmp_path / "out.csv", workspace)
    out = pd.read_csv(tmp_path / "out.csv")
    assert version == "workspace"
    assert out["prediction"].tolist() == pytest.approx(expected(model, rows))

    pd.DataFrame([GOOD, {"age": "old", "bmi": 1.0, "bp": None}]).to_csv(tmp_path / "bad.csv")
    with pytest.raises(InputError) as raised:
        predict_file(settings_, tmp_path / "bad.csv", tmp_path / "never.csv", workspace)
    message = str(raised.value)
    assert "row[1].age: Input should be a valid number" in message
    assert "row[1].bp: Input should be a finite number" in message
    assert "row[0].Unnamed: 0: unknown feature" in message
    assert not (tmp_path / "never.csv").exists()


# --- the real server over HTTP ----------------------------------------------------------------


def test_health_and_metadata_describe_the_workspace_champion(
    client: httpx.Client, workspace: Path
) -> None:
    health = client.get("/health").json()
    card = read_json(workspace / "metrics/model_card.json")
    assert health["status"] == "ok"
    assert (health["version"], health["source"], health["sha256"]) == (
        "workspace",
        "workspace",
        card["sha256"],
    )
    assert "workspace champion" in health["note"]
    assert health["loaded_at"]
    metadata = client.get("/metadata").json()
    stats = read_json(workspace / "data/prepared/train_stats.json")
    assert [f["name"] for f in metadata["features"]] == FEATURES
    bmi = metadata["features"][1]
    assert bmi["type"] == "number"
    assert (bmi["training"]["min"], bmi["training"]["max"]) == (
        stats["bmi"]["min"],
        stats["bmi"]["max"],
    )
    assert metadata["gate"] == card["gate"]
    assert metadata["test_metrics"] == card["test_metrics"]


def test_predict_one_record_and_a_batch_and_log_them(
    client: httpx.Client, workspace: Path, model: object
) -> None:
    log_path = workspace / "logs/predictions.jsonl"
    before = len(read_log_lines(log_path)) if log_path.exists() else 0
    one = client.post("/predict", json=GOOD)
    assert one.status_code == 200
    assert one.json()["predictions"] == pytest.approx(expected(model, [GOOD]))
    assert one.json()["model_version"] == "workspace"
    batch = [GOOD, {"age": -1.0, "bmi": 2.5, "bp": 0.0}, GOOD]
    many = client.post("/predict", json=batch)
    assert many.json()["predictions"] == pytest.approx(expected(model, batch))

    logged = read_log_lines(log_path)[before:]
    assert len(logged) == 4
    assert set(logged[0]) == {"timestamp", "model_version", "inputs", "prediction"}
    assert [entry["inputs"] for entry in logged] == [GOOD, *batch]
    assert [entry["prediction"] for entry in logged] == pytest.approx(
        expected(model, [GOOD, *batch])
    )


@pytest.mark.parametrize(
    ("request_args", "status", "named"),
    [
        ({"json": {**GOOD, "weight": 1}}, 422, "weight"),
        ({"json": {"age": 1.0, "bp": 1.0}}, 422, "bmi"),
        ({"json": {**GOOD, "bp": "1.0"}}, 422, "bp"),
        ({"content": b'{"age": 1, "bmi": NaN, "bp": 1}'}, 400, "NaN"),
        ({"content": b'{"age": 1, "bmi": -Infinity, "bp": 1}'}, 400, "Infinity"),
        ({"content": b'{"age": 1e999, "bmi": 0, "bp": 1}'}, 422, "age"),
        ({"json": {"age": 1e308, "bmi": 1e308, "bp": -1e308}}, 422, "non-finite prediction"),
        ({"json": []}, 422, "empty batch"),
        ({"json": [GOOD] * 51}, 413, "serve.max_batch"),
        ({"content": b"x" * 5000}, 413, "serve.max_body_bytes"),
        ({"content": iter([b"[", b" " * 5000, b"]"])}, 413, "serve.max_body_bytes"),
        ({"data": {"age": "1"}}, 415, "application/json"),
        ({"content": b"{}", "headers": {"content-type": "text/plain"}}, 415, "text/plain"),
    ],
)
def test_bad_requests_get_a_4xx_naming_the_problem(
    client: httpx.Client, request_args: dict, status: int, named: str
) -> None:
    headers = {"content-type": "application/json", **request_args.pop("headers", {})}
    if "data" in request_args:
        headers = {}
    response = client.post("/predict", headers=headers, **request_args)
    assert response.status_code == status, response.text
    assert named in response.text
    assert response.json()["detail"]


def test_openapi_schema_describes_the_records(client: httpx.Client) -> None:
    schema = client.get("/openapi.json").json()
    body = schema["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
    one, many = body["schema"]["oneOf"]
    assert sorted(one["required"]) == sorted(FEATURES)
    assert one["additionalProperties"] is False
    assert many["maxItems"] == 50
    assert {"/health", "/metadata", "/predict", "/reload"} <= set(schema["paths"])


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=5)
    | st.sampled_from(FEATURES),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from([*FEATURES, "x"]) | st.text(max_size=3), inner, max_size=5
        )
    ),
    max_leaves=20,
)
RECORDS = st.fixed_dictionaries({name: st.floats(allow_nan=False) for name in FEATURES})


def _body(payload: object) -> bytes:
    return json.dumps(payload).encode()  # NaN and inf become the literals the server refuses


@settings(max_examples=150, deadline=None)
@given(payload=JSON_VALUES | RECORDS | st.lists(RECORDS, max_size=60))
def test_no_input_gets_a_5xx(client: httpx.Client, payload: object) -> None:
    response = client.post(
        "/predict", content=_body(payload), headers={"content-type": "application/json"}
    )
    assert response.status_code < 500, response.text
    if response.status_code == 200:
        assert len(response.json()["predictions"]) == (
            len(payload) if isinstance(payload, list) else 1
        )
    else:
        assert re.search(r"\S", response.json()["detail"])


def test_reload_keeps_serving_when_the_new_model_is_refused(
    client: httpx.Client, workspace: Path
) -> None:
    model_file = workspace / "models/champion.skops"
    original = model_file.read_bytes()
    model_file.write_bytes(original + b"tampered")
    try:
        refused = client.post("/reload")
        assert refused.status_code == 409
        assert "refusing to load" in refused.json()["detail"]
        assert "still serving workspace" in refused.json()["detail"]
        assert client.post("/predict", json=GOOD).status_code == 200
    finally:
        model_file.write_bytes(original)
    assert client.post("/reload").json()["status"] == "ok"


def test_no_model_means_503_until_a_reload_finds_one(client: httpx.Client) -> None:
    before = client.without_model
    assert before["health"].status_code == 503
    assert "model file not found" in before["health"].json()["error"]
    assert before["predict"].status_code == 503
    assert before["metadata"].status_code == 503
    assert before["reload"].status_code == 200
    assert before["reload"].json()["status"] == "ok"
    assert client.get("/health").status_code == 200


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (lambda card: {k: v for k, v in card.items() if k != "skops_sha256"}, "no skops_sha256"),
        (lambda card: {**card, "gate": "passed"}, "not a valid ModelCard report: gate: Input"),
        (lambda card: json.dumps(card)[:50], "not valid JSON"),
    ],
    ids=["before skops", "wrong field", "cut short"],
)
def test_a_malformed_mounted_card_is_refused_in_one_line(
    tmp_path: Path, damage, expected: str
) -> None:
    """A mounted card (no git) that does not fit: `predict` exits 1 with one line naming the
    file, and the server starts without a model, /health saying why; no traceback anywhere."""
    repo = tiny_workspace(tmp_path / "repo")
    card_path = repo / "metrics/model_card.json"
    damaged = damage(read_json(card_path))
    card_path.write_text(damaged if isinstance(damaged, str) else json.dumps(damaged))
    pd.DataFrame([GOOD]).to_csv(tmp_path / "in.csv", index=False)
    predict = ["python", "-m", "regpipe.serve", "predict", "--workspace"]
    result = sh(
        *predict, str(tmp_path / "in.csv"), str(tmp_path / "out.csv"), cwd=repo, check=False
    )
    assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("error: ") and "metrics/model_card.json" in result.stderr
    assert expected in result.stderr and not (tmp_path / "out.csv").exists()
    with running_server(repo, "--workspace") as client:
        health = client.get("/health")
    assert health.status_code == 503 and expected in health.json()["error"]
    assert "Traceback" not in "".join(p.read_text() for p in tmp_path.glob("server-*.log"))
