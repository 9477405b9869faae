"""The error of drift's reference sample: Wasserstein / sd and PSI from a sample of the reference
against the whole reference (drift.reference_sample.rows), and whether any verdict changes.

For each reference size, sample size and distribution (normal, lognormal, Student t with 3
degrees of freedom), five seeds; batches of 200 and 20,000 rows, unchanged or shifted by 0.1
sd. Prints a Markdown table of the largest absolute differences for bench/README.md, and how
many verdicts and PSI bands changed (PSI grows without bound as a bin empties on one side, so
its absolute error is large where PSI itself is: its band is what a reader uses).

    PYTHONPATH=. nice -n 10 .venv/bin/python bench/drift_sample_error.py
"""

import numpy as np
import pandas as pd

from regpipe.drift import data_drift, summarised
from tests.test_drift import SETTINGS

DRAWS = {
    "normal": lambda rng, n: rng.normal(size=n),
    "lognormal": lambda rng, n: rng.lognormal(size=n),
    "t3": lambda rng, n: rng.standard_t(3, size=n),
}


def errors(n_rows: int, sample_rows: int, seed: int) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    reference = pd.DataFrame({name: draw(rng, n_rows) for name, draw in DRAWS.items()})
    worst = {"wasserstein": 0.0, "psi": 0.0, "ks": 0.0, "verdicts changed": 0, "bands changed": 0}
    for n_current in (200, 20_000):
        for shift in (0.0, 0.1):
            current = pd.DataFrame({name: draw(rng, n_current) for name, draw in DRAWS.items()})
            current += shift * reference.std()
            full = data_drift(reference, current, list(DRAWS), **SETTINGS)
            summary = summarised(
                reference, current, list(DRAWS), rows=sample_rows, random_state=seed
            )
            sampled = data_drift(summary, current, list(DRAWS), **SETTINGS)
            for name in DRAWS:
                exact, approximate = full[name], sampled[name]
                key = "ks" if exact.test == "ks" else "wasserstein"
                change = abs(approximate.statistic - exact.statistic)
                worst[key] = max(worst[key], change)
                worst["psi"] = max(worst["psi"], abs(approximate.psi - exact.psi))
                worst["bands changed"] += approximate.psi_band != exact.psi_band
                worst["verdicts changed"] += approximate.drift != exact.drift
    return worst


def main() -> None:
    print(
        "| reference rows | sample rows | max abs. error W/sd | max abs. error PSI "
        "| max abs. error KS statistic | verdicts changed | PSI bands changed |\n"
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    )
    for n_rows, sample_rows in [(1_000_000, 10_000), (1_000_000, 100_000), (3_000_000, 1_000_000)]:
        runs = [errors(n_rows, sample_rows, seed) for seed in range(5)]
        worst = {key: max(run[key] for run in runs) for key in runs[0]}
        changed = sum(run["verdicts changed"] for run in runs)
        bands = sum(run["bands changed"] for run in runs)
        print(
            f"| {n_rows:,} | {sample_rows:,} | {worst['wasserstein']:.4f} | {worst['psi']:.4f} "
            f"| {worst['ks']:.1e} | {changed} of {5 * 4 * len(DRAWS)} | {bands} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
