"""train and evaluate on real tables off the demo path (palmerpenguins, read from the installed
package as tests/test_corpus.py does), each number against an independent scikit-learn
computation: collinear columns, chunk boundaries, levels seen in one chunk only."""

import importlib.metadata
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyRegressor
from sklearn.linear_model import Lasso
from sklearn.model_selection import KFold, cross_validate
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from regpipe.errors import UserError
from regpipe.evaluation import BASELINE, design, refit_metrics
from regpipe.io import read_parquet_chunks
from regpipe.models import (
    feature_names,
    fit_encoder,
    fit_rows,
    fit_with_cv,
    make_encoder,
    make_pipeline,
    parquet_rows,
    unconverged,
)
from regpipe.search import Rows

TARGET = "body_mass_g"


def penguins() -> pd.DataFrame:
    """palmerpenguins' table, complete rows (prepare drops the others), without the year."""
    path = Path(
        importlib.metadata.distribution("palmerpenguins").locate_file(
            "palmerpenguins/data/penguins.csv"
        )
    )
    return pd.read_csv(path).dropna().drop(columns="year").reset_index(drop=True)


def chunked_rows(frame: pd.DataFrame, tmp_path: Path, chunk_rows: int):
    """The training split as train reads it: Parquet in chunks of ``chunk_rows``, encoder
    learnt chunk by chunk."""
    path = tmp_path / "train.parquet"
    frame.to_parquet(path, row_group_size=chunk_rows)

    def frames(columns=None):
        read = None if columns is None else [*columns, TARGET]
        for chunk in read_parquet_chunks(path, chunk_rows, read):
            yield chunk.drop(columns=TARGET)

    encoder = fit_encoder(frames)
    return encoder, parquet_rows(str(path), TARGET, encoder.transform, None, chunk_rows)


def test_lasso_cv_curve_with_perfectly_collinear_columns_is_sklearns(tmp_path: Path) -> None:
    """A column that is another's multiple (a unit converted, a sum kept beside its parts):
    LARS on the singular Gram matrix once gave a fold RMSE of 1e9 where the fold's refit scores
    ~290, so the chosen alpha was an accident."""
    frame = penguins().iloc[:250].reset_index(drop=True)
    frame["bill_length_2x"] = 2 * frame["bill_length_mm"]
    frame["bill_sum_mm"] = frame["bill_length_mm"] + frame["bill_depth_mm"]
    alphas = np.logspace(-3, 1, 5)
    cv = KFold(5)
    encoder, rows = chunked_rows(frame, tmp_path, 37)
    result = fit_rows("lasso", encoder, rows, alphas=alphas, cv=cv)
    X, y = frame.drop(columns=TARGET), frame[TARGET]
    expected = []
    for alpha in alphas:
        pipeline = Pipeline(
            [
                ("encoder", make_encoder()),
                ("scaler", StandardScaler()),
                ("model", Lasso(alpha=alpha, tol=1e-14, max_iter=10**6)),
            ]
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # near-collinear CD warnings at the tightest tol
            scores = cross_validate(pipeline, X, y, cv=cv, scoring="neg_root_mean_squared_error")
        expected.append(-scores["test_score"])
    np.testing.assert_allclose(result.search.test_rmse, np.array(expected).T, rtol=1e-8)
    assert result.alpha == pytest.approx(alphas[int(np.argmin(np.mean(expected, axis=1)))])


@pytest.mark.parametrize("column", ["bill_depth_mm", TARGET])
@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_a_missing_or_infinite_number_is_named_not_a_linalg_traceback(
    column: str, value: float, tmp_path: Path
) -> None:
    """A split that reaches train or evaluate with a NaN (a contract allowing missing values,
    a file written by hand) once failed in numpy's eigh ("Eigenvalues did not converge") or
    gave NaN metrics; scikit-learn's fit refuses such input too."""
    frame = penguins().iloc[:100].reset_index(drop=True)
    frame.loc[45, column] = value  # in the seventh chunk of 7 rows
    encoder, rows = chunked_rows(frame, tmp_path, 7)
    with pytest.raises(UserError) as error:
        fit_rows("ridge", encoder, rows, alphas=np.logspace(-3, 3, 5), cv=KFold(5))
    message = str(error.value)
    assert "\n" not in message
    assert str(tmp_path / "train.parquet") in message and f"'{column}'" in message


def test_a_missing_level_in_a_later_chunk_is_encoded_as_sklearn_encodes_it(
    tmp_path: Path,
) -> None:
    """A text column with a missing value (a contract's max_missing lets a few through):
    scikit-learn's OneHotEncoder fitted on the whole split learns the missing value as a level
    of its own (an indicator column); the encoder learnt chunk by chunk must do the same, or
    the deployed model is not the Pipeline fit on the split."""
    frame = penguins().iloc[:120].reset_index(drop=True)
    frame.loc[50, "island"] = None  # in the eighth chunk of 7 rows
    encoder, rows = chunked_rows(frame, tmp_path, 7)
    result = fit_rows("ridge", encoder, rows, alphas=np.array([1.0]), cv=KFold(5))
    X, y = pd.read_parquet(tmp_path / "train.parquet").drop(columns=TARGET), frame[TARGET]
    expected = make_pipeline("ridge", alpha=1.0).fit(X, y)
    assert feature_names(result.model) == feature_names(expected)
    np.testing.assert_allclose(result.model[-1].coef_, expected[-1].coef_, rtol=1e-8)
    np.testing.assert_allclose(result.model.predict(X), expected.predict(X), rtol=1e-10)


def test_a_lasso_fit_stopped_at_max_iter_is_reported(tmp_path: Path) -> None:
    """ISLP's Credit (Limit and Rating correlate at 0.9969): 1,000 sweeps leave the LASSO's
    coefficients 0.4% short of the converged fit; scikit-learn warns, so must train."""
    path = importlib.metadata.distribution("islp").locate_file("ISLP/data/Credit.csv")
    frame = pd.read_csv(path).drop(columns="ID", errors="ignore").iloc[:300]
    X, y = frame.drop(columns="Balance"), frame["Balance"]
    alpha = np.array([0.46415888336127775])
    stopped = fit_with_cv("lasso", X, y, alphas=alpha, cv=KFold(5), max_iter=1000)
    assert "max_iter=1000" in unconverged(stopped)
    converged = fit_with_cv("lasso", X, y, alphas=alpha, cv=KFold(5), max_iter=10_000)
    assert unconverged(converged) is None
    exact = Lasso(alpha=alpha[0], tol=1e-14, max_iter=10**6)
    expected = Pipeline([("encoder", make_encoder()), ("scaler", StandardScaler()), ("m", exact)])
    expected.fit(X, y)
    np.testing.assert_allclose(converged.model[-1].coef_, expected[-1].coef_, rtol=1e-8)


def test_cv_r2_of_a_fold_with_a_constant_target_is_cross_validates(tmp_path: Path) -> None:
    """A validation fold whose target is constant (ties: a file sorted by the target, Credit's
    90 zero balances): r2_score's force_finite scores it 0 (1 when predicted exactly), so
    cross_validate's mean stays finite; evaluate's CV R² once came out -inf."""
    frame = penguins().iloc[:100].reset_index(drop=True)
    frame.loc[:19, TARGET] = 4000.0  # the whole first fold of KFold(5)
    encoder, rows = chunked_rows(frame, tmp_path, 7)
    models = {"ridge": fit_rows("ridge", encoder, rows, alphas=np.array([1.0]), cv=KFold(5)).model}
    X, y = frame.drop(columns=TARGET), frame[TARGET]
    train = Rows.from_arrays(design(models, X), y.to_numpy(float), 7)
    cv = refit_metrics(models, train, train, cv=KFold(5), n_bootstrap=2, random_state=0)["cv"]
    for name, oracle in [("ridge", models["ridge"]), (BASELINE, DummyRegressor())]:
        expected = cross_validate(oracle, X, y, cv=KFold(5), scoring="r2")["test_score"].mean()
        assert cv[name]["r2"] == pytest.approx(expected, rel=1e-8), name
