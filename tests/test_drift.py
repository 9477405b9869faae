"""Drift monitoring: the current batch's scenarios, per-column tests, verdicts, and edge cases.

Every scenario from generate.current runs at both sample sizes, so both families of tests
(p-values while either side has up to 1000 rows, distances above) are held to the expected
verdicts. False alarms and power by sample size: tests/test_drift_noise.py.
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from regpipe.current import make_current_batch
from regpipe.drift import (
    binned,
    champion_predictions,
    clean,
    concept_drift,
    concept_rows,
    data_drift,
    dataset_verdict,
    default_test,
    distribution_table,
    drift_report,
    jensenshannon,
    psi,
    read_current,
    summary,
    wasserstein,
)
from regpipe.errors import UserError
from regpipe.params import load_params
from regpipe.reports import (
    ColumnDrift,
    ConceptDrift,
    DriftReport,
    read_report,
    report_data,
    write_report,
)
from tests.helpers import PARAMS, edit_params, sh

FEATURES = ["a", "b", "c", "few", "binary", "color"]
SETTINGS = {
    "p_value": 0.05,
    "distance": 0.1,
    "small_reference": 1000,
    "psi_bins": 10,
    "psi_epsilon": 1e-4,
    "psi_bands": (0.1, 0.25),
}
SEED = 4
CONCEPT = {"max_rmse_increase": 0.1, "n_bootstrap": 200, "confidence": 0.95, "random_state": 0}


def population(n_samples: int, seed: int = 0) -> pd.DataFrame:
    """Independent columns of every kind the tests meet, and a target linear in a, b, c."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, 3))
    return pd.DataFrame(
        {
            "a": X[:, 0],
            "b": 10 + 3 * X[:, 1],
            "c": X[:, 2],
            "few": rng.integers(0, 4, n_samples).astype(float),
            "binary": rng.integers(0, 2, n_samples),
            "color": rng.choice(["red", "green", "blue"], n_samples),
            "y": X @ [2.0, 1.0, -1.0] + rng.normal(scale=0.5, size=n_samples),
        }
    )


def linear_predictions(reference: pd.DataFrame, current: pd.DataFrame) -> np.ndarray:
    """A least-squares fit on the reference, standing in for the champion."""
    design = np.c_[np.ones(len(reference)), reference[["a", "b", "c"]]]
    coef = np.linalg.lstsq(design, reference["y"], rcond=None)[0]
    return np.c_[np.ones(len(current)), current[["a", "b", "c"]]] @ coef


# scenario: (generate.current changes, columns expected to drift, concept drift expected).
# Shifting or scaling an input leaves its label as it was, so the relation moves for those rows
# and the champion's error rises: the concept check flags it too. Relabelling moves only the
# relation, which no data-drift test can see.
SCENARIOS = {
    "no change": ({}, [], False),
    "shift 1 sd": ({"shift_sd": {"a": 1.0}}, ["a"], True),
    "scale x1.5": ({"scale": {"b": 1.5}}, ["b"], True),
    "category proportions": (
        {"category_proportions": {"color": {"red": 0.7}, "binary": {"1": 0.8}}},
        ["binary", "color"],
        False,
    ),
    "missing values": ({"missing_rate": {"c": 0.3}}, [], False),
    "labels changed": ({"relabel": {"target": "y", "slope_sd": {"a": 1.0}}}, [], True),
}


@pytest.mark.parametrize("n_samples", [600, 5000], ids=["small reference", "large reference"])
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_each_scenario_gives_the_expected_verdicts(scenario: str, n_samples: int) -> None:
    """Reference and current are disjoint draws from one population, as in production.

    Both sides have ``n_samples`` rows, so above 1000 Evidently's own rule applies (distances)
    and the verdicts are its verdicts. A p-value test flags about 5% of unchanged columns by
    design, so the seed is fixed.
    """
    changes, expected_drifted, expected_concept = SCENARIOS[scenario]
    pool = population(20 * n_samples, seed=SEED)
    reference = pool.iloc[:n_samples].reset_index(drop=True)
    current = make_current_batch(
        pool.iloc[n_samples:], n_samples=n_samples, random_state=SEED, **changes
    )
    columns = data_drift(reference, current, FEATURES, **SETTINGS)

    assert sorted(name for name, result in columns.items() if result.drift) == expected_drifted
    small = n_samples <= 1000
    expected_tests = {
        "a": "ks" if small else "wasserstein",
        "few": "chisquare" if small else "jensenshannon",
        "binary": "z" if small else "jensenshannon",
        "color": "chisquare" if small else "jensenshannon",
    }
    assert {name: columns[name].test for name in expected_tests} == expected_tests
    for result in columns.values():
        score = result.p_value if small else result.distance
        assert (result.p_value is None) is (not small) and score is not None

    verdict = dataset_verdict(columns, drift_share=0.3)
    assert verdict.drift is (len(expected_drifted) / len(FEATURES) >= 0.3)

    missing = {name: result.missing_current for name, result in columns.items()}
    assert missing["c"] == pytest.approx(0.3 if scenario == "missing values" else 0.0, abs=0.05)

    X, y, reason = concept_rows(current, ["a", "b", "c"], "y")
    assert reason is None
    test_rmse = float(
        np.sqrt(np.mean((reference["y"] - linear_predictions(reference, reference)) ** 2))
    )
    concept = concept_drift(y, linear_predictions(reference, X), test_rmse=test_rmse, **CONCEPT)
    assert concept.drift is expected_concept
    low, high = concept.rmse_interval
    assert low <= concept.rmse_current <= high


def test_concept_interval_of_a_large_batch_is_subsampled_and_still_covers() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(size=300_000)
    worse = concept_drift(y, y + rng.normal(scale=1.3, size=len(y)), test_rmse=1.0, **CONCEPT)
    low, high = worse.rmse_interval
    assert low < worse.rmse_current < high and high - low < 0.02
    assert worse.drift is True and worse.n_rows == 300_000
    same = concept_drift(y, y + rng.normal(size=len(y)), test_rmse=1.0, **CONCEPT)
    assert same.drift is False and same.rmse_interval[0] < 1.0 < same.rmse_interval[1]


def test_shift_is_flagged_by_the_strict_rule_alone() -> None:
    reference = population(600)
    current = make_current_batch(reference, n_samples=600, random_state=1, shift_sd={"a": 1.0})
    columns = data_drift(reference, current, FEATURES, **SETTINGS)
    assert dataset_verdict(columns, drift_share=0.5).drift is False
    strict = dataset_verdict(columns, drift_share=0.5, strict=True, p_value=0.05)
    assert strict.drift is True and strict.bonferroni_columns == ["a"]


def test_default_test_follows_evidently_rules_on_the_smaller_sample() -> None:
    assert default_test(1000, 6, True, 1000) == "ks"
    assert default_test(1000, 5, True, 1000) == "chisquare"
    assert default_test(1000, 2, True, 1000) == "z"
    assert default_test(1000, 3, False, 1000) == "chisquare"
    assert default_test(1000, 2, False, 1000) == "z"
    assert default_test(1001, 6, True, 1000) == "wasserstein"
    assert default_test(1001, 5, True, 1000) == "jensenshannon"
    assert default_test(1001, 50, False, 1000) == "jensenshannon"
    # Evidently looks at the reference only; data_drift passes the smaller side's row count
    rng = np.random.default_rng(0)
    large, small = (
        pd.DataFrame({"x": rng.normal(size=5000)}),
        pd.DataFrame({"x": rng.normal(size=200)}),
    )
    for reference, current, test in [
        (large, small, "ks"),
        (small, large, "ks"),
        (large, large, "wasserstein"),
    ]:
        assert data_drift(reference, current, ["x"], **SETTINGS)["x"].test == test


def test_distinct_values_ignore_nan_and_inf() -> None:
    reference = pd.DataFrame({"x": [0.0, 1.0, np.nan, np.inf] * 50})
    current = pd.DataFrame({"x": [0.0, 1.0, -np.inf] * 50})
    result = data_drift(reference, current, ["x"], **SETTINGS)["x"]
    assert (result.test, result.n_distinct) == ("z", 2)
    assert result.out_of_range_current == pytest.approx(1 / 3)


def test_override_changes_test_and_threshold_and_psi_stays_a_score() -> None:
    reference = population(5000)
    current = make_current_batch(reference, n_samples=5000, random_state=1, shift_sd={"a": 0.05})
    overrides = {"a": {"test": "ks", "threshold": 0.01}, "b": {"test": "psi", "threshold": 0.25}}
    columns = data_drift(reference, current, FEATURES, overrides=overrides, **SETTINGS)
    assert (columns["a"].test, columns["a"].threshold) == ("ks", 0.01)
    assert columns["b"].test == "psi" and columns["b"].drift is False
    assert columns["a"].psi_band == "stable" and "psi" not in report_data(columns["color"])
    with pytest.raises(UserError, match=r"drift.columns.color.test: 'ks' needs a numeric column"):
        data_drift(reference, current, FEATURES, overrides={"color": {"test": "ks"}}, **SETTINGS)
    with pytest.raises(UserError, match=r"drift.columns: unknown column\(s\) \['zz'\]"):
        data_drift(reference, current, FEATURES, overrides={"zz": {}}, **SETTINGS)


@pytest.mark.parametrize(("n", "m"), [(1, 1), (7, 3), (500, 1200), (1000, 1000)])
def test_fast_statistics_equal_scipy_and_numpy(n: int, m: int) -> None:
    from scipy.spatial.distance import jensenshannon as scipy_jensenshannon
    from scipy.stats import wasserstein_distance

    rng = np.random.default_rng(n)
    ref = clean(pd.Series(rng.normal(size=n).round(1)), numeric=True)
    cur = clean(pd.Series(rng.normal(0.3, 2.0, size=m).round(1)), numeric=True)
    assert wasserstein(ref, cur) == pytest.approx(wasserstein_distance(ref, cur), rel=1e-9)
    _, ref_share, cur_share = binned(ref, cur, numeric=True, n_bins=30)
    edges = np.histogram_bin_edges(np.concatenate([ref, cur]), bins=30)
    assert np.allclose(ref_share, np.histogram(ref, edges)[0] / n)
    assert np.allclose(cur_share, np.histogram(cur, edges)[0] / m)
    assert jensenshannon(ref_share, cur_share) == pytest.approx(
        scipy_jensenshannon(ref_share, cur_share), rel=1e-9, abs=1e-12
    )


def test_psi_bands_a_shift_and_not_a_resample() -> None:
    rng = np.random.default_rng(0)
    reference = np.sort(rng.normal(size=5000))
    resample = np.sort(rng.choice(reference, 5000))
    assert psi(reference, resample, n_bins=10, epsilon=1e-4) < 0.1
    assert psi(reference, reference + 1.0, n_bins=10, epsilon=1e-4) > 0.25


# edge cases ----------------------------------------------------------------------------------


def test_edge_cases_are_reported_not_crashed_on() -> None:
    reference = population(300).assign(constant=1.0, gone=0.0)
    current = population(300, seed=1).assign(constant=1.0, c=np.nan)
    columns = data_drift(reference, current, [*FEATURES, "constant", "gone"], **SETTINGS)
    assert (columns["constant"].test, columns["constant"].drift) == ("constant", False)
    assert columns["c"].drift is None and columns["c"].missing_current == 1.0
    assert "all missing" in columns["c"].reason
    assert columns["gone"].drift is None and "absent" in columns["gone"].reason
    verdict = dataset_verdict(columns, drift_share=0.5)
    assert verdict.untested_columns == ["c", "gone"] and verdict.n_tested == 6
    text = summary(
        drift_report(
            n_reference=300,
            n_current=300,
            damaged_log_lines=0,
            columns=columns,
            dataset=verdict,
            concept=ConceptDrift(drift=None, reason="no target"),
        )
    )
    assert "not tested: c, gone" in text and "absent from the current batch" in text


def test_drift_json_keys_come_in_one_order_whatever_the_test(tmp_path: Path) -> None:
    """A KS column and a Wasserstein column write the same keys in the same order; a constant,
    an untested and a categorical column write theirs in that order too (what drift.json shows
    and `dvc metrics diff` lists)."""
    reference = population(3000).assign(constant=1.0, gone=0.0)
    names = [*FEATURES, "constant", "gone"]
    small, large = (
        data_drift(reference, population(n, seed=1).assign(constant=1.0), names, **SETTINGS)
        for n in (300, 3000)
    )
    assert (small["a"].test, large["a"].test) == ("ks", "wasserstein")
    written = {}
    for label, columns in (("small", small), ("large", large)):
        report = drift_report(
            n_reference=3000,
            n_current=len(columns),
            damaged_log_lines=0,
            columns=columns,
            dataset=dataset_verdict(columns, drift_share=0.5),
            concept=ConceptDrift(drift=None, reason="no target"),
        )
        write_report(report, tmp_path / f"{label}.json")
        written[label] = json.loads((tmp_path / f"{label}.json").read_text())
        again = read_report(DriftReport, tmp_path / f"{label}.json")
        write_report(again, tmp_path / "again.json")
        assert (tmp_path / "again.json").read_bytes() == (tmp_path / f"{label}.json").read_bytes()
    ks, wasserstein_keys = (list(written[label]["columns"]["a"]) for label in ("small", "large"))
    assert ks == wasserstein_keys
    assert ks == [
        "type", "test", "statistic", "p_value", "distance", "threshold", "drift", "n_distinct",
        "psi", "psi_band", "n_reference", "n_current", "missing_reference", "missing_current",
        "out_of_range_current",
    ]  # fmt: skip
    order = list(ColumnDrift.model_fields)
    for label in written:
        for name, column in written[label]["columns"].items():
            keys = list(column)
            assert keys == sorted(keys, key=order.index), (label, name, keys)
    constant = written["small"]["columns"]["constant"]
    assert list(constant)[:7] == ks[:7] and constant["test"] == "constant"
    gone = written["large"]["columns"]["gone"]
    assert list(gone) == ["type", "test", "drift", "reason", "n_reference", "n_current"]
    assert "psi" not in written["small"]["columns"]["color"]
    assert list(written["small"]) == ["n_reference", "n_current", "dataset", "concept", "columns"]


def test_constant_reference_against_a_moved_current_is_drift() -> None:
    reference = pd.DataFrame({"x": np.zeros(200)})
    current = pd.DataFrame({"x": np.r_[np.zeros(100), np.ones(100)]})
    assert data_drift(reference, current, ["x"], **SETTINGS)["x"].drift is True


@pytest.mark.parametrize(
    "current", [pd.DataFrame(columns=FEATURES), pd.DataFrame()], ids=["header only", "no columns"]
)
def test_an_empty_current_batch_gives_an_unknown_verdict(current: pd.DataFrame) -> None:
    columns = data_drift(population(100), current, FEATURES, **SETTINGS)
    assert {result.reason for result in columns.values()} == {"the current batch is empty"}
    verdict = dataset_verdict(columns, drift_share=0.5)
    assert verdict.drift is None and verdict.untested_columns == sorted(FEATURES)
    assert concept_rows(current, FEATURES, "y")[2] == "the current batch has no 'y' column"
    assert distribution_table(population(100), current, columns, n_bins=5).empty


def test_distribution_table_covers_drifted_columns_only() -> None:
    reference = population(600)
    current = make_current_batch(
        reference,
        n_samples=600,
        random_state=1,
        shift_sd={"a": 1.0},
        category_proportions={"color": {"red": 0.9}},
    )
    columns = data_drift(reference, current, FEATURES, **SETTINGS)
    table = distribution_table(reference, current, columns, n_bins=8)
    assert sorted(table["column"].unique()) == ["a", "color"]
    shares = table.groupby(["column", "side"])["share"].sum()
    assert np.allclose(shares, 1.0)
    assert len(table[(table.column == "a") & (table.side == "current")]) == 8


# the current batch ---------------------------------------------------------------------------


def test_current_batch_scenarios_do_what_they_say() -> None:
    frame = population(2000)
    same = make_current_batch(frame, n_samples=3000, random_state=7)
    again = make_current_batch(frame, n_samples=3000, random_state=7)
    pd.testing.assert_frame_equal(same, again)
    moved = make_current_batch(
        frame,
        n_samples=3000,
        random_state=7,
        shift_sd={"a": 1.0},
        scale={"b": 2.0},
        category_proportions={"color": {"red": 0.6}},
        missing_rate={"c": 0.2},
        relabel={"target": "y", "slope_sd": {"c": 1.0}},
    )
    assert moved["a"].mean() - same["a"].mean() == pytest.approx(frame["a"].std(), rel=0.05)
    assert moved["b"].std() / same["b"].std() == pytest.approx(2.0, rel=0.1)
    assert (moved["color"] == "red").mean() == pytest.approx(0.6, abs=0.03)
    blue_share = (moved["color"] == "blue").mean() / (moved["color"] != "red").mean()
    assert blue_share == pytest.approx((frame["color"] == "blue").mean() / (2 / 3), abs=0.05)
    assert moved["c"].isna().mean() == pytest.approx(0.2, abs=0.03)
    complete = moved.dropna()
    slope = np.polyfit(complete["c"], complete["y"], 1)[0]
    assert slope == pytest.approx(-1.0 + frame["y"].std() / frame["c"].std(), abs=0.3)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"shift_sd": {"zz": 1.0}}, r"generate.current.shift_sd: unknown column\(s\) \['zz'\]"),
        ({"missing_rate": {"zz": 0.1}}, r"generate.current.missing_rate: unknown column"),
        ({"category_proportions": {"color": {"pink": 0.5}}}, r"level 'pink' not found"),
        ({"category_proportions": {"color": {"red": 0.7, "blue": 0.6}}}, "sum to 1.3"),
        ({"relabel": {"target": "zz", "slope_sd": {"a": 1}}}, r"relabel.target: unknown"),
    ],
)
def test_current_batch_refuses_a_bad_scenario(changes: dict, message: str) -> None:
    with pytest.raises(UserError, match=message):
        make_current_batch(population(50), n_samples=5, random_state=0, **changes)


def test_numeric_levels_are_matched_loosely() -> None:
    frame = pd.DataFrame({"sex": [0.05068011873981862, -0.044641636506989144] * 50})
    batch = make_current_batch(
        frame, n_samples=2000, random_state=0, category_proportions={"sex": {"0.0507": 0.9}}
    )
    assert (batch["sex"] > 0).mean() == pytest.approx(0.9, abs=0.03)


# the request log -----------------------------------------------------------------------------


def test_request_log_single_and_batch_requests(tmp_path) -> None:
    entries = [
        {"timestamp": "t1", "model_version": "v1", "inputs": {"a": 1.0, "b": 2.0}, "prediction": 3},
        [
            {"timestamp": "t2", "model_version": "v1", "inputs": {"a": 4.0, "b": 5.0}},
            {"timestamp": "t2", "model_version": "v1", "inputs": {"a": 6.0, "b": 7.0}},
        ],
        {"timestamp": "t3", "inputs": [{"a": 8.0, "b": 9.0}], "prediction": [1.0]},
    ]
    log = tmp_path / "requests.jsonl"
    log.write_text("\n".join(json.dumps(entry) for entry in entries) + "\n\n")
    assert read_current(log)["a"].tolist() == [1.0, 4.0, 6.0, 8.0]
    (tmp_path / "requests.jsonl.1").write_text(json.dumps({"inputs": {"a": -1.0}}) + "\n")
    (tmp_path / "requests.jsonl.2").write_text(json.dumps({"inputs": {"a": -2.0}}) + "\n")
    assert read_current(log)["a"].tolist() == [-2.0, -1.0, 1.0, 4.0, 6.0, 8.0]
    (tmp_path / "requests.jsonl.1").unlink()
    (tmp_path / "requests.jsonl.2").unlink()
    log.write_text('{"inputs": {"a": 1}}\n{"prediction": 3}\n')
    with pytest.raises(UserError, match=r"requests.jsonl:2: expected a request object"):
        read_current(log)
    log.write_text("{not json\n")
    with pytest.raises(UserError, match=r"requests.jsonl:1: not valid JSON"):
        read_current(log)
    with pytest.raises(UserError, match="request log not found"):
        read_current(tmp_path / "nowhere.jsonl")


# params ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("section", "key", "value", "expected"),
    [
        ("generate", "current.missing_rate", {"bp": 1.5}, "current.missing_rate.bp: Input should"),
        (
            "generate",
            "current.scale",
            {"bp": 0},
            "current.scale.bp: Input should be greater than 0",
        ),
        ("generate", "current.relabel", {"target": "target"}, "relabel.slope_sd: Field required"),
        ("drift", "psi.bands", [0.3, 0.1], "bands must be [moderate, significant]"),
        ("drift", "columns", {"bmi": {"test": "t"}}, "drift.columns.bmi.test: Input should be"),
        ("drift", "concept.confidence", 1.0, "drift.concept.confidence: Input should be less"),
        ("drift", "fail_on_drift", "maybe", "drift.fail_on_drift: Input should be a valid boolean"),
    ],
)
def test_bad_drift_params_name_the_key(
    tmp_path: Path, section: str, key: str, value: object, expected: str
) -> None:
    path = edit_params(tmp_path / "params.yaml", {f"{section}.{key}": value}, start_from=PARAMS)
    with pytest.raises(UserError, match="invalid params") as raised:
        load_params(section, path)
    assert expected in str(raised.value)


# the real pipeline ---------------------------------------------------------------------------


def test_dvc_repro_flags_a_shifted_feature_in_the_generated_batch(repo_copy: Path) -> None:
    edit_params(repo_copy / "params.yaml", {"generate.current.shift_sd": {"s5": 1.0}})
    result = sh("dvc", "repro", "drift", cwd=repo_copy)
    assert "Running stage 'current'" in result.stdout and "Running stage 'drift'" in result.stdout
    assert "Running stage 'generate'" not in result.stdout
    assert "Running stage 'train_ridge'" not in result.stdout
    assert "dataset: no drift: 1/10 tested columns drifted" in result.stdout
    report = read_report(DriftReport, repo_copy / "metrics/drift.json")
    assert report.dataset.drifted_columns == ["s5"]
    assert report.columns["s5"].test == "ks" and report.columns["s5"].p_value < 1e-6
    assert report.concept.rmse_current > report.concept.rmse_test, "s5 moved without its label"
    plot = pd.read_csv(repo_copy / "metrics/plots/drift.csv")
    assert set(plot["column"]) == {"s5"}
    assert sh("dvc", "status", "drift", cwd=repo_copy).stdout.strip().endswith("up to date.")


def test_request_log_as_current_batch_and_fail_on_drift(repo_copy: Path) -> None:
    data = pd.read_parquet(repo_copy / "data/raw/data.parquet").drop(columns=["target"]).head(300)
    data["bmi"] += data["bmi"].std()
    lines = [
        json.dumps({"timestamp": f"t{i}", "model_version": "v1", "inputs": row, "prediction": 1.0})
        for i, row in enumerate(data.to_dict(orient="records"))
    ]
    (repo_copy / "logs").mkdir()
    (repo_copy / "logs/predictions.jsonl").write_text("\n".join(lines) + "\n")
    edit_params(
        repo_copy / "params.yaml",
        {
            "drift.current": "logs/predictions.jsonl",
            "drift.fail_on_drift": True,
            "drift.drift_share": 0.1,
        },
    )
    result = sh("dvc", "repro", "drift", cwd=repo_copy, check=False)
    assert result.returncode != 0
    assert "error: drift detected (drift.fail_on_drift is true)" in result.stderr
    report = read_report(DriftReport, repo_copy / "metrics/drift.json")
    assert report.n_current == 300 and "bmi" in report.dataset.drifted_columns
    assert report.concept.reason == "the current batch has no 'target' column"


def test_concept_rows_leave_out_text_and_infinite_numbers() -> None:
    """scikit-learn's diabetes table as a batch of your own, with text, +-inf and 1e308 in
    numeric features: the champion (this project's ridge pipeline fitted on it) is measured on
    the rows that hold finite numbers, as numpy selects them; it refused the whole batch with
    a traceback, which lost the data drift report. 1e308 overflows once scaled (the features'
    sd is 0.05): the champion cannot score it, and that is the reason given."""
    from regpipe.data import load_diabetes_frame
    from regpipe.models import make_pipeline

    diabetes = load_diabetes_frame()
    features = [column for column in diabetes.columns if column != "target"]
    model = make_pipeline("ridge", alpha=1.0).fit(diabetes[features], diabetes["target"])
    batch = diabetes.astype({"bmi": object, "target": object})
    batch.loc[3, "bmi"] = "n/a"
    batch.loc[5, "s5"] = -np.inf
    batch.loc[8, "target"] = "high"
    X, y, reason = concept_rows(batch, features, "target", numeric=features)
    assert reason is None
    kept = np.setdiff1d(np.arange(len(batch)), [3, 5, 8])
    assert X.index.tolist() == kept.tolist()
    np.testing.assert_array_equal(y, diabetes["target"].to_numpy(float)[kept])
    predictions, reason = champion_predictions(model, X)
    assert reason is None
    np.testing.assert_array_equal(predictions, model.predict(diabetes.loc[kept, features]))
    X.iloc[0, 0] = 1e308
    predictions, reason = champion_predictions(model, X)
    assert predictions is None
    assert reason == (
        "the champion cannot score the batch: Input X contains infinity or a value too large "
        "for dtype('float64')."
    )
