"""The whole pipeline at scale: every stage of `dvc repro` on the synthetic source, timed.

A temporary clone gets ``generate.source: synthetic`` with N rows x 10 features (and a fresh
data contract, inferred from them); then each stage runs as ``dvc repro --single-item <stage>``
in DAG order, so the figures are dvc's own run of that stage: wall and CPU seconds and the peak
resident memory of the largest process (wait4 rusage, which covers the stage command dvc starts).

    .venv/bin/python bench/scale_repro.py 1e6 1e7
    .venv/bin/python bench/scale_repro.py --engine dask 1e6   # train/evaluate on a LocalCluster
    .venv/bin/python bench/scale_repro.py --cache-type hardlink 1e8  # no copies in the cache

"s per pass" is each stage's wall time over one plain pass over its input Parquet (pyarrow
reads every row group and converts each column to numpy), timed once per size after the
stages: raw for generate (its output) and prepare, the test split for current, the training
split for train_* and drift, both splits for evaluate.
"""

import argparse
import re
import subprocess
import tempfile
import time
from pathlib import Path

import yaml
from generate_prepare import run_stage
from pipeline_time import ENV, dry_run, fresh_clone


def stage_order(repo: Path) -> list[str]:
    return re.findall(r"Running stage '([^']+)'", dry_run(repo))


def synthetic_clone(tmp: Path, n_samples: int, engine: str) -> tuple[Path, dict[str, str]]:
    """A fresh clone set to the synthetic source with ``n_samples`` rows on ``engine``, and the
    environment that runs the clone's own regpipe (not the editable install's)."""
    repo = fresh_clone(tmp)
    set_engine(repo, engine, n_samples=n_samples)
    (repo / "data_contract.yaml").unlink()  # Diabetes' contract; prepare infers a new one
    return repo, {**ENV, "PYTHONPATH": str(repo)}


def set_engine(repo: Path, engine: str, *, n_samples: int | None = None) -> None:
    """Write ``engine.name`` (and, given ``n_samples``, the synthetic source) to the clone."""
    params = yaml.safe_load((repo / "params.yaml").read_text())
    if n_samples is not None:
        params["generate"]["source"] = "synthetic"
        params["generate"]["synthetic"]["n_samples"] = n_samples
        params["generate"]["current"]["shift_sd"] = {"x0": 0.5}  # bmi is a Diabetes column
    params["engine"]["name"] = engine
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


# The Parquet files each stage reads (generate: the one it writes), for "s per pass".
RAW, TRAIN, TEST = (
    "data/raw/data.parquet",
    "data/prepared/train.parquet",
    "data/prepared/test.parquet",
)
STAGE_INPUTS = {"generate": [RAW], "prepare": [RAW], "current": [TEST], "evaluate": [TRAIN, TEST]}


def parquet_pass(path: Path) -> float:
    """Seconds of one plain pass over ``path``: every row group read, each column to numpy."""
    import pyarrow.parquet as pq  # imported before the clock starts

    start = time.perf_counter()
    with pq.ParquetFile(path) as file:
        for group in range(file.num_row_groups):
            table = file.read_row_group(group)
            for column in table.columns:
                column.to_numpy()
    return time.perf_counter() - start


def bench(
    n_samples: int, engine: str = "local", cache_type: str | None = None
) -> list[tuple[str, float, float, float, float]]:
    with tempfile.TemporaryDirectory() as tmp:
        repo, env = synthetic_clone(Path(tmp), n_samples, engine)
        if cache_type:  # e.g. hardlink: the cache holds no second copy of 1e8 rows
            subprocess.run(
                ["dvc", "config", "--local", "cache.type", cache_type],
                cwd=repo,
                check=True,
                env=env,
            )
        rows = []
        for stage in stage_order(repo):
            wall, cpu, peak = run_stage(["dvc", "repro", "--single-item", stage], repo, env)
            rows.append((stage, wall, cpu, peak))
            print(
                f"  {n_samples:.0e} {stage}: {wall:.1f} s wall, {cpu:.1f} s CPU, "
                f"peak RSS {peak:.0f} MiB",
                flush=True,
            )
        passes = {path: parquet_pass(repo / path) for path in (RAW, TRAIN, TEST)}
        print(
            f"  {n_samples:.0e} one pass: "
            + ", ".join(f"{p} {s:.1f} s" for p, s in passes.items()),
            flush=True,
        )
        return [
            (
                stage,
                wall,
                cpu,
                peak,
                wall / sum(passes[p] for p in STAGE_INPUTS.get(stage, [TRAIN])),
            )
            for stage, wall, cpu, peak in rows
        ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--engine", choices=["local", "dask"], default="local")
    parser.add_argument("--cache-type", help="the clone's dvc cache.type, e.g. hardlink")
    parser.add_argument("rows", nargs="*", default=["1e6"])
    args = parser.parse_args()
    sizes = [int(float(size)) for size in args.rows]
    results = {n_samples: bench(n_samples, args.engine, args.cache_type) for n_samples in sizes}
    print("| rows | stage | wall s | CPU s | peak RSS MiB | s per pass |")
    print("| ---: | --- | ---: | ---: | ---: | ---: |")
    for n_samples, rows in results.items():
        for stage, wall, cpu, peak, per_pass in rows:
            print(
                f"| {n_samples:.0e} | {stage} | {wall:.1f} | {cpu:.1f} | {peak:.0f} | "
                f"{per_pass:.1f} |"
            )
        total_wall = sum(row[1] for row in rows)
        total_cpu = sum(row[2] for row in rows)
        print(f"| {n_samples:.0e} | **all** | {total_wall:.1f} | {total_cpu:.1f} | |")


if __name__ == "__main__":
    main()
