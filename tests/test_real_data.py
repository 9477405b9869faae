"""What real tables need beyond the Diabetes data, on small in-memory frames: identifier columns,
kept repeats, the noise estimate on one-hot designs, grid-edge and sweep-edge warnings, the
warning summary, and Evidently's handling of integer codes in drift."""

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import KFold

from regpipe.contract import FIXABLE, enforce_contract, identifier_columns, infer_contract
from regpipe.drift import column_drift, run_test
from regpipe.errors import summarise_warnings
from regpipe.evaluation import Rows, noise_variance
from regpipe.models import fit_with_cv, grid_edge, make_encoder
from regpipe.sweep import Sweep, Trial, sweep_edge


def test_identifier_columns_are_text_unique_per_row_or_row_counters() -> None:
    rng = np.random.default_rng(0)
    n = 50
    frame = pd.DataFrame(
        {
            "name": [f"car {i}" for i in range(n)],
            "Obs": np.arange(1, n + 1),
            "shuffled_id": rng.permutation(n) + 100,
            "price": rng.choice(10_000, size=n, replace=False),  # unique, but not a counter
            "colour": rng.choice(["red", "blue"], size=n),
            "target": rng.normal(size=n),
        }
    )
    found = identifier_columns(frame, target="target")
    assert set(found) == {"name", "Obs", "shuffled_id"}
    assert found["Obs"] == "a row counter: each integer 1..50 once"


def test_repeated_rows_are_kept_and_counted_by_default() -> None:
    frame = pd.DataFrame({"a": [1.0, 1.0, 2.0, 1.0], "target": [3.0, 3.0, 4.0, 3.0]})
    contract = infer_contract(frame, target="target", max_missing=0.0)
    policy = dict.fromkeys(FIXABLE, "fail") | {"duplicates": "keep"}
    kept, report = enforce_contract(
        frame, contract, on_violation=policy, min_rows=1, source="t", max_listed=10
    )
    assert len(kept) == 4 and report["passed"]
    assert report["repeated_rows_kept"] == int(frame.duplicated().sum()) == 2
    fixed, report = enforce_contract(
        frame, contract, on_violation=policy | {"duplicates": "fix"}, min_rows=1, source="t",
        max_listed=10,
    )  # fmt: skip
    assert len(fixed) == 2 and report["repeated_rows_kept"] == 0


def test_noise_variance_counts_the_one_hot_block_once() -> None:
    rng = np.random.default_rng(1)
    n = 300
    X = pd.DataFrame({"x": rng.normal(size=n), "c": rng.choice(["a", "b", "c"], size=n)})
    y = pd.Series(2 * X["x"] + X["c"].map({"a": 0, "b": 1, "c": -1}) + rng.normal(size=n))
    design = make_encoder().fit_transform(X)
    # independently: dummies for every level, no intercept column (full rank: 1 + 3 params)
    full = np.column_stack([X["x"], pd.get_dummies(X["c"]).to_numpy(dtype=float)])
    coef, *_ = np.linalg.lstsq(full, y.to_numpy(), rcond=None)
    rss = float(np.sum((y.to_numpy() - full @ coef) ** 2))
    target = y.to_numpy()
    assert noise_variance(Rows.from_arrays(design, target)) == pytest.approx(
        rss / (n - 4), rel=1e-10
    )
    # a design with every level (collinear with the intercept) gives the same estimate
    every_level = np.column_stack([design, 1 - design[:, :2].sum(axis=1)])
    assert noise_variance(Rows.from_arrays(every_level, target)) == (
        pytest.approx(rss / (n - 4), rel=1e-10)
    )


def test_alpha_on_the_edge_of_the_grid_is_flagged() -> None:
    rng = np.random.default_rng(2)
    X = pd.DataFrame(rng.normal(size=(200, 3)), columns=["a", "b", "c"])
    y = X @ np.array([3.0, 2.0, 1.0]) + rng.normal(scale=0.1, size=200)
    cv = KFold(5)
    high = fit_with_cv("ridge", X, y, alphas=np.logspace(3, 5, 5), cv=cv)
    assert high.search.best_index == 0  # every alpha over-shrinks: the smallest wins
    assert "lowest value of the grid" in grid_edge(high)
    assert "alpha_grid.log10_start" in grid_edge(high)
    noisy = X @ np.array([0.3, 0.2, 0.1]) + rng.normal(scale=3, size=200)  # shrinkage pays
    inside = fit_with_cv("ridge", X, noisy, alphas=np.logspace(-3, 5, 17), cv=cv)
    assert 0 < inside.search.best_index < 16 and grid_edge(inside) is None
    fixed = fit_with_cv("ridge", X, y, alphas=np.array([1.0]), cv=cv)
    assert grid_edge(fixed) is None


def test_sweep_summary_flags_a_best_alpha_on_the_edge() -> None:
    def trial(alpha: float, cv_rmse: float) -> Trial:
        return Trial(f"e{alpha}", alpha, cv_rmse, cv_rmse, 0.5, "ridge", True)

    edge = Sweep("base", [trial(10.0, 1.0), trial(1.0, 2.0), trial(0.1, 3.0)], {}, [])
    assert "the best alpha 10 is the highest value swept" in sweep_edge(edge)
    inside = Sweep("base", [trial(1.0, 1.0), trial(10.0, 2.0), trial(0.1, 3.0)], {}, [])
    assert sweep_edge(inside) is None


def test_library_warnings_are_summarised_one_line_per_kind() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for fold in range(44):
            warnings.warn(f"R^2 not well-defined, fold {fold}", UserWarning, stacklevel=1)
        warnings.warn("did not converge", ConvergenceWarning, stacklevel=1)
    lines = summarise_warnings(caught)
    assert lines == [
        "warning: 44 x UserWarning: R^2 not well-defined, fold 0",
        "warning: 1 x ConvergenceWarning: did not converge",
    ]


def drift_of(reference: pd.Series, current: pd.Series, small_reference: int = 1000) -> dict:
    return column_drift(
        reference, current, stats=None, test=None, threshold=None, p_value=0.05, distance=0.1,
        small_reference=small_reference, psi_bins=10, psi_epsilon=1e-4, psi_bands=(0.1, 0.25),
    )  # fmt: skip


def test_integer_codes_with_few_values_are_tested_as_levels() -> None:
    rng = np.random.default_rng(3)
    codes = pd.Series(rng.integers(1, 9, 500).astype(float), name="cylinders")
    later = pd.Series(rng.integers(1, 9, 300).astype(float), name="cylinders")
    assert drift_of(codes, later).test == "chisquare"
    assert drift_of(codes, later, small_reference=100).test == "jensenshannon"
    many = pd.Series(rng.integers(0, 30, 500).astype(float), name="age")
    assert drift_of(many, many.sample(300, random_state=0)).test == "ks"
    floats = pd.Series(rng.choice([0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5], 500), name="f")
    assert drift_of(floats, floats.sample(300, random_state=0)).test == "ks"


def test_jensen_shannon_bins_by_value_for_few_reference_values() -> None:
    from scipy.spatial.distance import jensenshannon

    reference = np.sort(np.repeat([1.0, 2.0, 10.0], [50, 30, 20]))
    current = np.sort(np.repeat([1.0, 2.0, 10.0], [30, 50, 20]))
    result = run_test("jensenshannon", reference, current, numeric=True, threshold=0.1)
    # independently: one bin per value, as Evidently does under 20 values
    expected = jensenshannon([0.5, 0.3, 0.2], [0.3, 0.5, 0.2])
    assert result["distance"] == pytest.approx(expected, rel=1e-9)
