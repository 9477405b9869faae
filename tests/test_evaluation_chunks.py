"""evaluate and train out of core: the test split scored row group by row group, and the CV
fold labels without a per-row array, give the whole-table numbers; the test metrics equal an
independent scikit-learn computation on the whole split."""

from functools import partial

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import mean_absolute_error, r2_score, root_mean_squared_error
from sklearn.model_selection import KFold, PredefinedSplit, ShuffleSplit

from regpipe.evaluation import (
    BASELINE,
    design,
    plot_rows,
    refit_metrics,
    residual_sample,
    score_rows,
)
from regpipe.models import fit_encoder, fit_rows, fit_with_cv, make_folds, parquet_rows
from regpipe.search import FoldLabels, Rows, fold_labels

ALPHAS = {"ols": None, "ridge": np.logspace(-3, 2, 9), "lasso": np.logspace(-3, 0, 9)}


def sklearn_labels(cv: object, n: int) -> np.ndarray:
    labels = np.full(n, -1)
    for fold, (_, test) in enumerate(cv.split(np.empty((n, 0)))):
        labels[test] = fold
    return labels


@pytest.mark.parametrize("n", [10, 97, 1000, 4321])
@pytest.mark.parametrize(
    "cv",
    [KFold(10), KFold(3), KFold(10, shuffle=True, random_state=42), KFold(7, shuffle=True)],
    ids=["kfold10", "kfold3", "shuffled10", "shuffled7-unseeded"],
)
def test_fold_labels_are_sklearns_folds_in_any_range(n: int, cv: KFold) -> None:
    if cv.random_state is None and cv.shuffle:  # the same global draw for both
        np.random.seed(n)
        labels = fold_labels(cv, n)
        np.random.seed(n)
    else:
        labels = fold_labels(cv, n)
    expected = sklearn_labels(cv, n)
    assert len(labels) == n and labels.n_groups == cv.n_splits
    np.testing.assert_array_equal(labels[0:n], expected)
    for start, stop in [(0, 3), (2, 9), (n // 3, n // 2), (n - 4, n), (5, 5)]:
        np.testing.assert_array_equal(labels[start:stop], expected[start:stop])
    # What is held per row: nothing for contiguous folds, one byte with shuffling.
    if cv.shuffle:
        assert labels.stored.dtype.itemsize == 1
    else:
        assert labels.stored is None


def test_fold_labels_of_another_splitter_and_of_one_group() -> None:
    cv = PredefinedSplit(np.random.default_rng(0).integers(0, 4, 100))
    labels = fold_labels(cv, 100)
    np.testing.assert_array_equal(labels[0:100], sklearn_labels(cv, 100))
    assert labels.n_groups == 4 and labels.stored.dtype.itemsize == 2
    with pytest.raises(ValueError, match="partition the rows"):
        fold_labels(ShuffleSplit(3, random_state=0), 100)
    whole = FoldLabels.blocks([37])
    assert len(whole) == 37 and (whole[5:20] == 0).all() and len(whole[5:20]) == 15


def write_split(path, n: int, seed: int, row_group_size: int) -> pd.DataFrame:
    """Numeric and categorical features in row groups of ``row_group_size`` rows."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        rng.normal(size=(n, 3)) * [1, 10, 0.1] + [0, 50, 0], columns=["a", "b", "c"]
    )
    frame["colour"] = rng.choice(["red", "green", "blue"], size=n, p=[0.5, 0.45, 0.05])
    frame["target"] = 2 * frame["a"] - 0.1 * frame["b"] + (frame["colour"] == "blue") * 3
    frame["target"] += rng.normal(size=n) + 100
    table = pa.Table.from_pandas(frame, preserve_index=False)
    pq.write_table(table, path, row_group_size=row_group_size)
    return frame


@pytest.fixture(scope="module")
def splits(tmp_path_factory) -> dict:
    """A 3,000-row training split and a 2,500-row test split in row groups of 400 rows, the
    three models fitted on the training split read in 350-row chunks (shuffled 5-fold CV)."""
    folder = tmp_path_factory.mktemp("splits")
    train_path, test_path = folder / "train.parquet", folder / "test.parquet"
    train = write_split(train_path, 3000, seed=1, row_group_size=400)
    test = write_split(test_path, 2500, seed=2, row_group_size=400)
    assert pq.ParquetFile(test_path).num_row_groups == 7
    encoder = fit_encoder(lambda columns: iter([train.drop(columns="target")]))
    rows = parquet_rows(str(train_path), "target", encoder.transform, chunk_rows=350)
    cv = KFold(5, shuffle=True, random_state=0)
    fits = {name: fit_rows(name, encoder, rows, alphas=a, cv=cv) for name, a in ALPHAS.items()}
    return {
        "train": train,
        "test": test,
        "test_path": str(test_path),
        "train_path": str(train_path),
        "fits": fits,
        "models": {name: fit.model for name, fit in fits.items()},
    }


def scores(models: dict, rows: Rows, baseline: float, max_points: int = 300) -> tuple:
    predictors = {name: model[1:] for name, model in models.items()}
    return score_rows(predictors, rows, baseline=baseline, max_points=max_points)


def test_the_test_split_in_row_groups_gives_sklearns_metrics_and_the_whole_tables(
    splits: dict,
) -> None:
    models, test = splits["models"], splits["test"]
    baseline = float(splits["train"]["target"].mean())
    chunked = parquet_rows(splits["test_path"], "target", partial(design, models), chunk_rows=300)
    assert len(chunked.sizes) == 9  # 2,500 rows in chunks of 300 across 400-row row groups
    metrics, sample = scores(models, chunked, baseline)
    X_test, y_test = test.drop(columns="target"), test["target"]
    whole = Rows.from_arrays(design(models, X_test), y_test.to_numpy(float), len(test))
    whole_metrics, whole_sample = scores(models, whole, baseline)

    # Independent: scikit-learn's metrics of each fitted Pipeline on the whole test frame.
    predictions = {name: model.predict(X_test) for name, model in models.items()}
    predictions[BASELINE] = np.full(len(test), baseline)
    for name, predicted in predictions.items():
        expected = {
            "rmse": root_mean_squared_error(y_test, predicted),
            "mae": mean_absolute_error(y_test, predicted),
            "r2": r2_score(y_test, predicted),
        }
        for key, value in expected.items():
            assert metrics[name][key] == pytest.approx(value, rel=1e-12), (name, key)
            assert whole_metrics[name][key] == pytest.approx(value, rel=1e-12), (name, key)

    # The plot sample: the same rows however the split is chunked, each row's actual value
    # and scikit-learn's predictions, in row order.
    pd.testing.assert_frame_equal(sample, whole_sample)
    drawn = plot_rows(len(test), 300)
    assert len(sample) == 300 and (np.diff(drawn) > 0).all()
    expected_sample = pd.DataFrame(
        {"actual": y_test.to_numpy()[drawn]} | {name: predictions[name][drawn] for name in models}
    ).round(6)
    pd.testing.assert_frame_equal(sample, expected_sample, atol=2e-6, rtol=0)
    assert list(residual_sample(sample)["model"].unique()) == list(models)


def test_a_small_test_split_is_plotted_whole_in_row_order(splits: dict) -> None:
    models = splits["models"]
    rows = parquet_rows(splits["test_path"], "target", partial(design, models), chunk_rows=300)
    _, sample = scores(models, rows, 0.0, max_points=5000)
    assert len(sample) == 2500
    np.testing.assert_array_equal(sample["actual"], splits["test"]["target"].round(6))


def test_bias_variance_over_a_chunked_test_split_equals_the_whole_tables(splits: dict) -> None:
    models, test = splits["models"], splits["test"]
    train_rows = parquet_rows(splits["train_path"], "target", partial(design, models), None, 350)
    refits = {}
    for label, test_rows in {
        "chunked": parquet_rows(splits["test_path"], "target", partial(design, models), None, 300),
        "whole": Rows.from_arrays(
            design(models, test.drop(columns="target")), test["target"].to_numpy(float)
        ),
    }.items():
        refits[label] = refit_metrics(
            models, train_rows, test_rows, cv=KFold(4), n_bootstrap=8, random_state=5
        )
    for name, parts in refits["whole"]["bias_variance"].items():
        for key, value in parts.items():
            assert refits["chunked"]["bias_variance"][name][key] == pytest.approx(
                value, rel=1e-9, abs=1e-12
            ), (name, key)


@pytest.mark.parametrize("shuffle", [False, True])
def test_training_in_chunks_equals_training_in_memory(splits: dict, shuffle: bool) -> None:
    """train_* on the Parquet split in small chunks (fold labels per range of rows) chooses
    the alpha and the coefficients of the in-memory fit."""
    train = splits["train"]
    encoder = fit_encoder(lambda columns: iter([train.drop(columns="target")]))
    rows = parquet_rows(splits["train_path"], "target", encoder.transform, chunk_rows=275)
    cv = make_folds(7, shuffle, 11)
    for name, alphas in ALPHAS.items():
        chunked = fit_rows(name, encoder, rows, alphas=alphas, cv=cv)
        memory = fit_with_cv(
            name, train.drop(columns="target"), train["target"], alphas=alphas, cv=cv
        )
        assert chunked.alpha == memory.alpha
        np.testing.assert_allclose(
            chunked.search.test_rmse, memory.search.test_rmse, rtol=1e-10, atol=1e-12
        )
        np.testing.assert_allclose(
            chunked.model[-1].coef_, memory.model[-1].coef_, rtol=1e-9, atol=1e-12
        )
