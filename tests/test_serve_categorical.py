"""Serving a model with a categorical column: raw labels in, normalised as prepare does, the
encoder inside the model; the fast linear path only for numeric-only models."""

from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from regpipe.contract import infer_contract, normalise_category, training_statistics
from regpipe.data import load_diabetes_frame
from regpipe.drift import read_request_log
from regpipe.io import read_json
from regpipe.models import categorical_levels, fit_with_cv, make_folds
from regpipe.serve import (
    InputError,
    PredictionLog,
    ServedModel,
    load_settings,
    predict_file,
)
from tests.serving import model_card, running_server, write_workspace

pytestmark = [pytest.mark.service, pytest.mark.xdist_group("serve_categorical")]

FEATURES = ["x0", "c0", "x1"]
EFFECT = {"a": 0.0, "b": 5.0, "c": -3.0}
GOOD = {"x0": 0.5, "c0": "  B ", "x1": -1}


def categorical_frame(n_samples: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "x0": rng.normal(size=n_samples),
            "c0": rng.choice(list(EFFECT), size=n_samples),
            "x1": rng.normal(size=n_samples),
        }
    )
    target = 2 * frame["x0"] - frame["x1"] + frame["c0"].map(EFFECT)
    return frame.assign(target=target + rng.normal(scale=0.1, size=n_samples))


def fit(frame: pd.DataFrame) -> object:
    X, y = frame.drop(columns="target"), frame["target"]
    cv = make_folds(5, shuffle=False, random_state=0)
    return fit_with_cv("ridge", X, y, alphas=np.array([0.01, 1.0]), cv=cv).model


def served_model(model: object, frame: pd.DataFrame, contract: dict | None = None) -> ServedModel:
    return ServedModel(
        model=model,
        name="champion",
        version="v1.0.0",
        stage=None,
        source="workspace",
        git_revision=None,
        sha256="x",
        card=model_card(model, frame, sha256="x", skops_sha256="x"),
        training_stats=training_statistics(frame, contract),
        note=None,
    )


def expected(model: object, records: list[dict]) -> list[float]:
    """model.predict on the records as prepare would have left them (labels normalised)."""
    frame = pd.DataFrame(records, columns=FEATURES)
    return model.predict(frame.assign(c0=normalise_category(frame["c0"]))).tolist()


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return categorical_frame()


@pytest.fixture(scope="module")
def contract(frame: pd.DataFrame) -> dict:
    return infer_contract(frame, target="target", max_missing=0.0)


@pytest.fixture(scope="module")
def model(frame: pd.DataFrame) -> object:
    return fit(frame)


@pytest.fixture(scope="module")
def served(model: object, frame: pd.DataFrame, contract: dict) -> ServedModel:
    return served_model(model, frame, contract)


@pytest.fixture(scope="module")
def workspace(
    tmp_path_factory: pytest.TempPathFactory, model: object, frame: pd.DataFrame, contract: dict
) -> Path:
    path = tmp_path_factory.mktemp("serve-categorical") / "repo"
    return write_workspace(path, model, frame, contract=contract)


@pytest.fixture(scope="module")
def client(workspace: Path) -> httpx.Client:
    with running_server(workspace, "--workspace") as client:
        yield client


# --- in memory --------------------------------------------------------------------------------


def test_categorical_levels_are_read_from_the_fitted_encoder(model: object) -> None:
    assert categorical_levels(model) == {"c0": ["a", "b", "c"]}
    diabetes = load_diabetes_frame()
    assert categorical_levels(fit(diabetes.head(60))) == {}


def test_fast_path_only_for_numeric_only_models(served: ServedModel) -> None:
    diabetes = load_diabetes_frame()
    numeric = served_model(fit(diabetes), diabetes)
    assert numeric.linear is not None, "the encoder with no categorical column is the identity"
    records = diabetes.drop(columns="target").head(5).to_dict("records")
    X = numeric.validator.validate(records, max_batch=None)
    assert isinstance(X, np.ndarray)
    assert X.dtype == np.float64
    assert numeric.predict(X) == pytest.approx(numeric.model.predict(diabetes.head(5)), rel=1e-9)
    assert served.linear is None


def test_labels_are_normalised_and_numbers_stay_float(served: ServedModel) -> None:
    X = served.validator.validate([GOOD, {**GOOD, "c0": "C", "x1": 2}], max_batch=None)
    assert list(X.columns) == FEATURES
    assert X["c0"].tolist() == ["b", "c"]
    assert X["c0"].map(type).tolist() == [str, str]
    assert (X["x0"].dtype, X["x1"].dtype) == (np.float64, np.float64)


@pytest.mark.parametrize(
    ("record", "loc", "message"),
    [
        ({**GOOD, "c0": 1}, "c0", "valid string"),
        ({**GOOD, "c0": None}, "c0", "valid string"),
        ({**GOOD, "c0": "   "}, "c0", "should match pattern"),
        ({**GOOD, "x0": "a"}, "x0", "valid number"),
    ],
)
def test_wrong_type_for_a_feature_names_it(
    served: ServedModel, record: dict, loc: str, message: str
) -> None:
    with pytest.raises(InputError) as raised:
        served.validator.validate(record, max_batch=None)
    assert [error["loc"] for error in raised.value.errors] == [loc]
    assert message in str(raised.value)


def test_log_keeps_the_normalised_labels_as_strings(
    served: ServedModel, model: object, tmp_path: Path
) -> None:
    records = [GOOD, {"x0": 1.0, "c0": "A", "x1": 0.0}, {"x0": 0.0, "c0": "new", "x1": 0.0}]
    X = served.validator.validate(records, max_batch=None)
    log = PredictionLog(tmp_path / "predictions.jsonl", max_bytes=10_000, backups=1)
    log.write(served.version, served.validator.records(X), served.predict(X).tolist())
    current = read_request_log(tmp_path / "predictions.jsonl")
    assert current["c0"].tolist() == ["b", "a", "new"]
    assert current["c0"].map(type).tolist() == [str, str, str]
    assert current["x0"].dtype == np.float64
    assert current["prediction"].tolist() == pytest.approx(expected(model, records))


def test_batch_command_scores_categorical_labels(
    workspace: Path, model: object, tmp_path: Path
) -> None:
    rows = [GOOD, {"x0": -1.0, "c0": "a", "x1": 0.3}]
    pd.DataFrame(rows).to_parquet(tmp_path / "in.parquet")
    settings = load_settings(workspace / "params.yaml", {}, {"use_registry": False})
    predict_file(settings, tmp_path / "in.parquet", tmp_path / "out.csv", workspace)
    out = pd.read_csv(tmp_path / "out.csv")
    assert out["prediction"].tolist() == pytest.approx(expected(model, rows))

    pd.DataFrame([GOOD, {**GOOD, "c0": None}]).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(InputError, match=r"row\[1\]\.c0: Input should be a valid string"):
        predict_file(settings, tmp_path / "bad.csv", tmp_path / "never.csv", workspace)


# --- the real server over HTTP ----------------------------------------------------------------


def test_predict_takes_raw_labels(client: httpx.Client, model: object) -> None:
    one = client.post("/predict", json={**GOOD, "c0": " A "})
    assert one.status_code == 200, one.text
    assert one.json()["predictions"] == pytest.approx(expected(model, [{**GOOD, "c0": "a"}]))
    batch = [GOOD, {**GOOD, "c0": "Never Seen"}]
    many = client.post("/predict", json=batch)
    assert many.status_code == 200, many.text
    assert many.json()["predictions"] == pytest.approx(expected(model, batch))


@pytest.mark.parametrize(
    ("record", "named"),
    [({**GOOD, "c0": 2.0}, "c0"), ({**GOOD, "x1": "2.0"}, "x1")],
)
def test_wrong_type_over_http_is_a_422_naming_the_field(
    client: httpx.Client, record: dict, named: str
) -> None:
    response = client.post("/predict", json=record)
    assert response.status_code == 422, response.text
    assert [error["field"] for error in response.json()["errors"]] == [named]


def test_metadata_and_openapi_describe_the_category(client: httpx.Client, workspace: Path) -> None:
    stats = read_json(workspace / "data/prepared/train_stats.json")
    features = {f["name"]: f for f in client.get("/metadata").json()["features"]}
    assert list(features) == FEATURES
    c0 = features["c0"]
    assert (c0["type"], c0["levels"]) == ("category", ["a", "b", "c"])
    assert c0["training"]["frequencies"] == stats["c0"]["frequencies"]
    assert "encoded as all zeros" in c0["unseen_levels"]
    assert features["x0"]["type"] == "number"
    assert features["x0"]["training"]["min"] == stats["x0"]["min"]

    schema = client.get("/openapi.json").json()
    body = schema["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
    properties = body["schema"]["oneOf"][0]["properties"]
    assert (properties["c0"]["type"], properties["x0"]["type"]) == ("string", "number")
