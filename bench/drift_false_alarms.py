"""False alarms of the drift tests with no drift, and their power, by sample size (bench/README.md).

Each repeat draws a fresh reference and batch from one population (tests/test_drift_noise.py's
twelve synthetic columns, or a real table's rows with replacement) and counts column alarms and
dataset alarms (drift_share 0.5); then the share of batches in which one column shifted by k
standard deviations is found, against 50,000 reference rows. Rerun:

    PYTHONPATH=. nice -n 10 .venv/bin/python bench/drift_false_alarms.py [repeats]
"""

import sys

import numpy as np

from regpipe.drift import data_drift, dataset_verdict
from tests.test_drift_noise import SETTINGS, draw, synthetic


def main(repeats: int) -> None:
    print("| population | reference rows | batch rows | column alarms | dataset alarms |")
    print("| --- | --- | --- | --- | --- |")
    for source in ("synthetic", "Wage", "penguins"):
        for n_reference in (500, 5000, 50_000):
            for n_current in (50, 200, 1000, 2000):
                rng = np.random.default_rng([n_reference, n_current, 1])
                alarms = checked = datasets = 0
                for _ in range(repeats):
                    reference = draw(source, n_reference, rng)
                    current = draw(source, n_current, rng)
                    columns = data_drift(reference, current, list(reference.columns), **SETTINGS)
                    verdict = dataset_verdict(columns, drift_share=0.5)
                    alarms += verdict.n_drifted
                    checked += verdict.n_tested
                    datasets += verdict.drift
                print(
                    f"| {source} | {n_reference:,} | {n_current:,} | {alarms}/{checked} "
                    f"({alarms / checked:.1%}) | {datasets}/{repeats} |"
                )


def power(repeats: int) -> None:
    print("| batch rows | shift 0.2 sd | shift 0.5 sd | shift 1 sd | test |")
    print("| --- | --- | --- | --- | --- |")
    rng = np.random.default_rng(0)
    reference = synthetic(50_000, rng)
    for n_current in (50, 200, 1000, 2000):
        found = []
        for shift_sd in (0.2, 0.5, 1.0):
            hits = 0
            for _ in range(repeats):
                current = synthetic(n_current, rng)
                current["normal"] += shift_sd
                result = data_drift(reference, current, ["normal"], **SETTINGS)["normal"]
                hits += result.drift
            found.append(f"{hits}/{repeats}")
        print(f"| {n_current:,} | {' | '.join(found)} | {result.test} |")


if __name__ == "__main__":
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    main(repeats)
    power(repeats)
