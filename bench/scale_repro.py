"""The whole pipeline at scale: every stage of `dvc repro` on the synthetic source, timed.

A temporary clone gets ``generate.source: synthetic`` with N rows x 10 features (and a fresh
data contract, inferred from them); then each stage runs as ``dvc repro --single-item <stage>``
in DAG order, so the figures are dvc's own run of that stage: wall and CPU seconds and the peak
resident memory of the largest process (wait4 rusage, which covers the stage command dvc starts).

    .venv/bin/python bench/scale_repro.py 1e6 1e7
    .venv/bin/python bench/scale_repro.py --engine dask 1e6   # train/evaluate on a LocalCluster
"""

import argparse
import re
import tempfile
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


def bench(n_samples: int, engine: str = "local") -> list[tuple[str, float, float, float]]:
    with tempfile.TemporaryDirectory() as tmp:
        repo, env = synthetic_clone(Path(tmp), n_samples, engine)
        rows = []
        for stage in stage_order(repo):
            wall, cpu, peak = run_stage(["dvc", "repro", "--single-item", stage], repo, env)
            rows.append((stage, wall, cpu, peak))
            print(f"  {n_samples:.0e} {stage}: {wall:.1f} s wall, {cpu:.1f} s CPU", flush=True)
        return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--engine", choices=["local", "dask"], default="local")
    parser.add_argument("rows", nargs="*", default=["1e6"])
    args = parser.parse_args()
    sizes = [int(float(size)) for size in args.rows]
    results = {n_samples: bench(n_samples, args.engine) for n_samples in sizes}
    print("| rows | stage | wall s | CPU s | peak RSS MiB |")
    print("| ---: | --- | ---: | ---: | ---: |")
    for n_samples, rows in results.items():
        for stage, wall, cpu, peak in rows:
            print(f"| {n_samples:.0e} | {stage} | {wall:.1f} | {cpu:.1f} | {peak:.0f} |")
        total_wall = sum(row[1] for row in rows)
        total_cpu = sum(row[2] for row in rows)
        print(f"| {n_samples:.0e} | **all** | {total_wall:.1f} | {total_cpu:.1f} | |")


if __name__ == "__main__":
    main()
