"""Drift stage time and peak memory at 1e4, 1e6 and 1e7 rows per side, 10 columns.

Runs the real stage script (`python stages/drift.py`) in a scratch folder on Parquet (and, at
1e6 rows, CSV) inputs, one column shifted by 0.5 sd, and prints a Markdown table for
bench/README.md. Usage: python bench/drift_bench.py [n_rows ...]
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from regpipe.contract import training_statistics
from regpipe.io import write_json, write_table

ROOT = Path(__file__).resolve().parents[1]
N_FEATURES = 10


def make_side(n_rows: int, seed: int, shift: float) -> pd.DataFrame:
    """8 continuous columns, one with 4 levels, one binary; ``x0`` moved by ``shift`` sd."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        rng.normal(size=(n_rows, N_FEATURES - 2)), columns=[f"x{i}" for i in range(8)]
    )
    frame["x0"] += shift
    frame["levels"] = rng.integers(0, 4, n_rows).astype(float)
    frame["binary"] = rng.integers(0, 2, n_rows).astype(float)
    return frame


# A fresh parent per run, so the children's peak RSS is this run's alone.
MEASURE = (
    "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); "
    "usage = resource.getrusage(resource.RUSAGE_CHILDREN); "
    "print(usage.ru_utime + usage.ru_stime, usage.ru_maxrss)"
)


def run_stage(folder: Path, suffix: str) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + sys) and peak RSS (MiB) of one drift stage run."""
    stage = [
        sys.executable,
        str(ROOT / "stages/drift.py"),
        f"--train=train{suffix}",
        "--stats=train_stats.json",
        f"--current=current{suffix}",
        "--champion=unused.joblib",  # the batch has no target: no model is loaded
        "--model-card=unused.json",
        "--out-metrics=drift.json",
        "--out-plot=drift.csv",
    ]
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", MEASURE, *stage],
        cwd=folder,
        check=True,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - start
    cpu, peak = result.stdout.split()[-2:]
    return seconds, float(cpu), int(peak) / 1024


def bench(n_rows: int, suffixes: list[str]) -> list[str]:
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        shutil.copy(ROOT / "params.yaml", folder / "params.yaml")
        train = make_side(n_rows, seed=0, shift=0.0).assign(target=0.0)
        current = make_side(n_rows, seed=1, shift=0.5)
        write_json(training_statistics(train), folder / "train_stats.json")
        for suffix in suffixes:
            write_table(train, folder / f"train{suffix}")
            write_table(current, folder / f"current{suffix}")
            seconds, cpu, mib = run_stage(folder, suffix)
            report = pd.read_json(folder / "drift.json", typ="series")
            drifted = report["dataset"]["drifted_columns"]
            load = os.getloadavg()[0]
            rows.append(
                f"| {n_rows:.0e} | {suffix[1:]} | {seconds:.2f} | {cpu:.2f} | {mib:.0f} "
                f"| {load:.1f} | {', '.join(drifted)} |"
            )
            print(rows[-1], flush=True)
    return rows


if __name__ == "__main__":
    sizes = [int(float(arg)) for arg in sys.argv[1:]] or [10**4, 10**6, 10**7]
    print("| rows per side | format | wall s | CPU s | peak RSS MiB | load avg | drifted |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for n in sizes:
        bench(n, [".parquet", ".csv"] if n == 10**6 else [".parquet"])
