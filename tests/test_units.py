"""Unit tests of the pure functions, on tiny in-memory data."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from regpipe.contract import training_statistics
from regpipe.current import make_current_batch
from regpipe.data import load_diabetes_frame, split_train_test
from regpipe.errors import UserError
from regpipe.evaluation import evaluate, pick_champion, quality_gate, score_rows
from regpipe.io import atomic_path, load_model, read_table, save_model, sha256_file, write_json
from regpipe.models import (
    candidate_alphas,
    coefficients,
    fit_with_cv,
    make_folds,
    train_report,
)
from regpipe.search import Rows

FEATURES = ["a", "b"]


def small_frame(n: int = 40, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    return pd.DataFrame({"a": X[:, 0], "b": X[:, 1], "y": 3 * X[:, 0] + rng.normal(size=n)})


# data ------------------------------------------------------------------------------------------


def test_diabetes_has_sklearn_feature_names_and_target() -> None:
    frame = load_diabetes_frame()
    assert list(frame.columns) == [
        "age",
        "sex",
        "bmi",
        "bp",
        "s1",
        "s2",
        "s3",
        "s4",
        "s5",
        "s6",
        "target",
    ]
    assert frame.shape == (442, 11)


def test_current_batch_is_deterministic_and_shifted() -> None:
    frame = small_frame(200)
    batch = make_current_batch(frame, n_samples=500, shift_sd={"a": 1.0}, random_state=7)
    again = make_current_batch(frame, n_samples=500, shift_sd={"a": 1.0}, random_state=7)
    pd.testing.assert_frame_equal(batch, again)
    assert len(batch) == 200, "no more rows than the held-out frame: none drawn twice"
    shift = batch["a"].mean() - frame["a"].mean()
    assert 0.7 * frame["a"].std() < shift < 1.3 * frame["a"].std()
    assert abs(batch["b"].mean() - frame["b"].mean()) < 0.3 * frame["b"].std()


def test_current_batch_refuses_unknown_shift_column() -> None:
    with pytest.raises(UserError, match=r"generate.current.shift_sd: unknown column\(s\) \['zz'\]"):
        make_current_batch(small_frame(), n_samples=5, shift_sd={"zz": 1.0}, random_state=0)


def test_split_matches_sizes_and_is_disjoint() -> None:
    frame = small_frame(50).assign(row=range(50))
    train, test = split_train_test(frame, test_size=0.2, random_state=42)
    assert (len(train), len(test)) == (40, 10)
    assert set(train["row"]).isdisjoint(test["row"])


def test_split_refuses_an_empty_part() -> None:
    with pytest.raises(UserError, match="prepare.test_size=0.01 leaves an empty part"):
        split_train_test(small_frame(10), test_size=0.01, random_state=0)


def test_training_statistics() -> None:
    stats = training_statistics(pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0]}))
    assert stats["x"]["count"] == 4
    assert stats["x"]["mean"] == 2.5
    assert stats["x"]["min"] == 1.0 and stats["x"]["max"] == 4.0
    assert stats["x"]["q50"] == 2.5
    assert stats["x"]["kind"] == "numeric"
    assert sum(stats["x"]["histogram"]["counts"]) == 4
    assert stats["x"]["histogram"]["edges"][0] == 1.0


# models ----------------------------------------------------------------------------------------


def test_candidate_alphas() -> None:
    grid = {"log10_start": -1, "log10_stop": 1, "num": 3}
    assert candidate_alphas(None, None) is None
    assert candidate_alphas(5.0, grid).tolist() == [5.0]
    np.testing.assert_allclose(candidate_alphas(None, grid), [0.1, 1.0, 10.0])


@pytest.mark.parametrize("name", ["ols", "ridge", "lasso"])
def test_fit_with_cv_finds_the_signal(name: str) -> None:
    frame = small_frame(80)
    alphas = None if name == "ols" else np.logspace(-3, 0, 5)
    result = fit_with_cv(
        name, frame[FEATURES], frame["y"], alphas=alphas, cv=make_folds(5, False, 0)
    )
    coef = coefficients(result.model)
    assert coef["a"] > 2.0 and abs(coef["b"]) < 0.5
    report = train_report(result)
    assert 0.5 < report.cv_rmse_mean < 1.5
    assert report.train_rmse_mean <= report.cv_rmse_mean
    assert result.n_alphas_searched == (0 if alphas is None else 5)


def test_lasso_with_huge_alpha_zeroes_everything() -> None:
    frame = small_frame(60)
    result = fit_with_cv(
        "lasso", frame[FEATURES], frame["y"], alphas=np.array([100.0]), cv=make_folds(3, False, 0)
    )
    assert set(coefficients(result.model).values()) == {0.0}


# evaluation ------------------------------------------------------------------------------------


def test_champion_ties_go_to_the_simpler_model() -> None:
    metrics = {"ols": {"rmse": 1.0}, "ridge": {"rmse": 1.0}, "lasso": {"rmse": 2.0}}
    assert pick_champion(metrics, ["ols", "ridge", "lasso"]) == "ols"
    assert pick_champion(metrics, ["ridge", "ols", "lasso"]) == "ridge"


def test_evaluate_scores_models_and_baseline() -> None:
    class Constant:
        def __init__(self, value: float) -> None:
            self.value = value

        def predict(self, X: pd.DataFrame) -> np.ndarray:
            return np.full(len(X), self.value)

    X = np.arange(4.0)[:, None]
    y = np.array([1.0, 2.0, 3.0, 4.0])
    metrics, sample = score_rows(
        {"good": Constant(2.5), "bad": Constant(10.0)},
        Rows.from_arrays(X, y),
        baseline=0.0,
        max_points=3,
    )
    report = evaluate(metrics, ["good", "bad"])
    assert report["champion"] == "good"
    assert report["models"]["good"]["mae"] == 1.0
    assert report["models"]["baseline"]["rmse"] == pytest.approx(math.sqrt(7.5))
    assert list(sample.columns) == ["actual", "good", "bad"] and len(sample) == 3


# io --------------------------------------------------------------------------------------------


def test_write_json_rounds_and_refuses_nothing_finite(tmp_path) -> None:
    path = tmp_path / "m.json"
    write_json({"x": 0.1 + 0.2, "n": np.int64(3), "bad": float("nan"), "neg0": -0.0}, path)
    assert json.loads(path.read_text()) == {"x": 0.3, "n": 3, "bad": None, "neg0": 0.0}
    assert "-0.0" not in path.read_text()


def test_atomic_path_keeps_the_old_file_when_the_write_fails(tmp_path) -> None:
    path = tmp_path / "out.txt"
    path.write_text("previous")
    with pytest.raises(RuntimeError), atomic_path(path) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert path.read_text() == "previous"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_read_table_errors_name_the_file(tmp_path) -> None:
    with pytest.raises(UserError, match="missing.csv: file not found"):
        read_table(tmp_path / "missing.csv")
    with pytest.raises(UserError, match=r"unsupported table format '.txt'"):
        read_table(tmp_path / "x.txt")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(UserError, match="empty.csv: cannot read table"):
        read_table(empty)


def test_quality_gate_passes_and_fails_with_reasons() -> None:
    metrics = {"m": {"rmse": 50.0, "r2": 0.45}, "baseline": {"rmse": 70.0, "r2": 0.0}}
    assert quality_gate(metrics, "m", min_improvement=0.1, min_r2=0.4)["passed"] is True
    failed = quality_gate(metrics, "m", min_improvement=0.5, min_r2=0.9)
    assert failed["passed"] is False
    assert "the gate asks for 50.0%" in failed["reasons"][0]
    assert "below the floor 0.9" in failed["reasons"][1]


def test_load_model_refuses_a_file_whose_hash_differs(tmp_path) -> None:
    path = tmp_path / "model.joblib"
    save_model({"weights": [1, 2]}, path)
    assert load_model(path, sha256=sha256_file(path)) == {"weights": [1, 2]}

    class Boom:
        def __reduce__(self):
            return (exec, ("raise SystemExit('unpickled!')",))

    save_model(Boom(), path)  # a crafted pickle that runs code when loaded
    with pytest.raises(UserError, match="refusing to load: sha256"):
        load_model(path, sha256="0" * 64)
