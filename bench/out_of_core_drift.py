"""current and drift at N rows, shaped as the pipeline shapes them: peak memory and time.

Writes a training split of 0.8 N rows and a test split of 0.2 N rows (x0 .. x9 and target,
float64, 1 Mi-row row groups, as prepare writes them) in a scratch folder, then runs the real
stage scripts of a checkout under wait4: `stages/current.py` draws the 200-row batch from the
test split (x0 shifted by 0.5 sd), `stages/drift.py` compares it (without its target, so no
model is needed) with the training split. ``--code`` runs another checkout's scripts, its own
regpipe and params.yaml (e.g. a worktree of main, for the figures before a change).

    nice -n 10 .venv/bin/python bench/out_of_core_drift.py 1e7
    nice -n 10 .venv/bin/python bench/out_of_core_drift.py --code /tmp/main-worktree 1e7
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

ROOT = Path(__file__).resolve().parents[1]
ROW_GROUP = 1 << 20
COLUMNS = [f"x{i}" for i in range(10)] + ["target"]


def write_split(path: Path, n_rows: int, seed: int) -> dict:
    """Standard normal columns in 1 Mi-row row groups; returns each column's min and max."""
    rng = np.random.default_rng(seed)
    stats = {column: {"min": np.inf, "max": -np.inf} for column in COLUMNS}
    schema = pa.schema([(column, pa.float64()) for column in COLUMNS])
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, n_rows, ROW_GROUP):
            values = rng.normal(size=(min(ROW_GROUP, n_rows - start), len(COLUMNS)))
            writer.write_table(pa.Table.from_pandas(pd.DataFrame(values, columns=COLUMNS)))
            for column, low, high in zip(COLUMNS, values.min(0), values.max(0), strict=True):
                stats[column] = {
                    "min": min(stats[column]["min"], low),
                    "max": max(stats[column]["max"], high),
                }
    return stats


def measure(args: list[str], cwd: Path, code: Path) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds and peak RSS (MiB) of one stage script of ``code``."""
    env = {**os.environ, "PYTHONPATH": str(code)}
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, *args], cwd=cwd, env=env)
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{args[0]} failed")
    return time.perf_counter() - start, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def bench(n_rows: int, code: Path) -> list[str]:
    with tempfile.TemporaryDirectory(prefix="out_of_core_drift.") as scratch:
        folder = Path(scratch)
        params = yaml.safe_load((code / "params.yaml").read_text())
        params["generate"]["current"]["shift_sd"] = {"x0": 0.5}  # bmi is a Diabetes column
        (folder / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        stats = write_split(folder / "train.parquet", int(0.8 * n_rows), seed=0)
        (folder / "train_stats.json").write_text(json.dumps(stats))
        write_split(folder / "test.parquet", n_rows - int(0.8 * n_rows), seed=1)
        rows = []
        current = [str(code / "stages/current.py"), "--test=test.parquet", "--out=current.csv"]
        rows.append(("current", *measure(current, folder, code)))
        pd.read_csv(folder / "current.csv").drop(columns="target").to_csv(
            folder / "batch.csv", index=False
        )
        drift = [
            str(code / "stages/drift.py"),
            "--train=train.parquet",
            "--stats=train_stats.json",
            "--current=batch.csv",
            "--champion=unused.skops",  # the batch has no target: no model is loaded
            "--model-card=unused.json",
            "--out-metrics=drift.json",
            "--out-plot=drift.csv",
        ]
        rows.append(("drift", *measure(drift, folder, code)))
        report = json.loads((folder / "drift.json").read_text())
        drifted = report["dataset"]["drifted_columns"]
    return [
        f"| {n_rows:.0e} | {stage} | {wall:.1f} | {cpu:.1f} | {peak:,.0f} |"
        for stage, wall, cpu, peak in rows
    ] + [f"drifted columns: {drifted}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("n_rows", nargs="+", type=float)
    parser.add_argument("--code", type=Path, default=ROOT, help="the checkout whose stages run")
    args = parser.parse_args()
    print("| rows | stage | wall s | CPU s | peak RSS MiB |\n| ---: | --- | ---: | ---: | ---: |")
    for n_rows in args.n_rows:
        print("\n".join(bench(int(n_rows), args.code.resolve())), flush=True)


if __name__ == "__main__":
    main()
