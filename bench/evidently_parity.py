"""One-off check: our per-column and dataset drift verdicts against Evidently's on the same data.

Evidently is not a project dependency; run this in a throwaway environment:

    python3 -m venv /tmp/evvenv && /tmp/evvenv/bin/pip install evidently==0.7.23 pytest hypothesis
    PYTHONPATH=. /tmp/evvenv/bin/python bench/evidently_parity.py

It draws each drift scenario of tests/test_drift.py at three pairings of reference and batch size
(and more seeds), runs Evidently's legacy DataDriftPreset with its default tests, and prints
every disagreement and the false alarms each raises with no change.
"""

import time
import warnings
from collections import Counter

import numpy as np
import pandas as pd
from evidently.legacy.metric_preset import DataDriftPreset
from evidently.legacy.pipeline.column_mapping import ColumnMapping
from evidently.legacy.report import Report

from regpipe.current import make_current_batch
from regpipe.drift import data_drift, dataset_verdict
from tests.test_drift import SETTINGS

NUMERIC, CATEGORICAL = ["a", "b", "c", "few"], ["binary", "color"]
SEEDS = 5
SCENARIOS = {
    "no change": {},
    "shift 1 sd": {"shift_sd": {"a": 1.0}},
    "shift 0.1 sd": {"shift_sd": {"a": 0.1}},
    "scale x1.5": {"scale": {"b": 1.5}},
    "category proportions": {"category_proportions": {"color": {"red": 0.7}, "binary": {"1": 0.8}}},
    "missing values": {"missing_rate": {"c": 0.3}},
}


def population(n_samples: int, seed: int) -> pd.DataFrame:
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
        }
    )


def evidently_verdicts(reference: pd.DataFrame, current: pd.DataFrame) -> tuple[dict, bool]:
    mapping = ColumnMapping(numerical_features=NUMERIC, categorical_features=CATEGORICAL)
    report = Report(metrics=[DataDriftPreset()])
    report.run(reference_data=reference, current_data=current, column_mapping=mapping)
    result = next(
        metric["result"]
        for metric in report.as_dict()["metrics"]
        if "drift_by_columns" in metric["result"]
    )
    columns = {
        name: (column["stattest_name"], column["drift_score"], column["drift_detected"])
        for name, column in result["drift_by_columns"].items()
    }
    dataset = next(
        metric["result"]["dataset_drift"]
        for metric in report.as_dict()["metrics"]
        if "dataset_drift" in metric["result"]
    )
    return columns, dataset


def main() -> None:
    """Per pairing of sizes: verdicts and scores compared, and the alarms each raises on no change.

    (600, 600) and (5000, 5000) are where Evidently's rule and ours pick the same tests; at
    (5000, 200) Evidently measures distances on a 200-row batch, we test (the smaller sample
    decides), so that pairing shows the false alarms the change removes.
    """
    warnings.simplefilter("ignore")
    pairs: Counter = Counter()
    for n_reference, n_current in ((600, 600), (5000, 5000), (5000, 200)):
        checked = differ = scores_differ = datasets = datasets_differ = 0
        alarms = {"ours": 0, "evidently": 0, "ours dataset": 0, "evidently dataset": 0}
        for seed in range(SEEDS):
            pool = population(n_reference + 20 * n_current, seed)
            reference = pool.iloc[:n_reference].reset_index(drop=True)
            for name, changes in SCENARIOS.items():
                current = make_current_batch(
                    pool.iloc[n_reference:], n_samples=n_current, random_state=seed, **changes
                )
                ours = data_drift(reference, current, NUMERIC + CATEGORICAL, **SETTINGS)
                theirs, their_dataset = evidently_verdicts(reference, current)
                ours_dataset = dataset_verdict(ours, drift_share=0.5).drift
                for column, result in ours.items():
                    test, score, drift = theirs[column]
                    ours_score = result.p_value if result.p_value is not None else result.distance
                    checked += 1
                    pairs[(n_reference, n_current, result.test, test)] += 1
                    differ += drift != result.drift
                    scores_differ += not np.isclose(score, ours_score, rtol=1e-6)
                    if name == "no change":
                        alarms["ours"] += result.drift
                        alarms["evidently"] += drift
                    if drift != result.drift:
                        print(
                            f"{n_reference}/{n_current} seed={seed} {name} {column}: ours "
                            f"{result.test} {ours_score:.6g} {result.drift}; evidently "
                            f"{test} {score:.6g} {drift}"
                        )
                datasets += 1
                datasets_differ += ours_dataset != their_dataset
                if name == "no change":
                    alarms["ours dataset"] += ours_dataset
                    alarms["evidently dataset"] += their_dataset
        no_change = SEEDS * len(NUMERIC + CATEGORICAL)
        print(
            f"reference {n_reference} / current {n_current}: {checked} column verdicts, "
            f"{differ} differ, {scores_differ} scores differ; {datasets} dataset verdicts, "
            f"{datasets_differ} differ; no change: column alarms ours {alarms['ours']}/"
            f"{no_change}, evidently {alarms['evidently']}/{no_change}; dataset alarms ours "
            f"{alarms['ours dataset']}/{SEEDS}, evidently {alarms['evidently dataset']}/{SEEDS}"
        )
    for (n_reference, n_current, ours_test, their_test), count in sorted(pairs.items()):
        print(
            f"{n_reference}/{n_current} ours {ours_test:<14} evidently {their_test:<30} "
            f"{count} columns"
        )


def speed(n_samples: int) -> None:
    """CPU seconds of both on the same 10 numeric columns (CPU time: the box is shared)."""
    rng = np.random.default_rng(0)
    names = [f"x{i}" for i in range(10)]
    reference = pd.DataFrame(rng.normal(size=(n_samples, 10)), columns=names)
    current = pd.DataFrame(rng.normal(0.05, 1, size=(n_samples, 10)), columns=names)
    start = time.process_time()
    ours = data_drift(reference, current, names, **SETTINGS)
    ours_seconds = time.process_time() - start
    start = time.process_time()
    report = Report(metrics=[DataDriftPreset()])
    report.run(
        reference_data=reference,
        current_data=current,
        column_mapping=ColumnMapping(numerical_features=names),
    )
    report.as_dict()
    their_seconds = time.process_time() - start
    drifted = sorted(name for name, result in ours.items() if result.drift)
    print(
        f"{n_samples:.0e} rows per side: ours {ours_seconds:.2f} CPU s, "
        f"evidently {their_seconds:.2f} CPU s (ours drifted: {drifted})"
    )


if __name__ == "__main__":
    main()
    for n in (10**5, 10**6):
        speed(n)
