"""train_* and evaluate on the local engine and on Dask (a LocalCluster), same prepared data.

A temporary clone gets the synthetic source with N rows x 10 features; generate and prepare run
once, then each train stage and evaluate run as ``dvc repro --single-item --force <stage>``,
first with ``engine.name: local``, then ``dask`` (``scheduler_address: null``: each stage starts
its own LocalCluster, as a user without a cluster would). Wall and CPU seconds and the peak RSS
of the largest process (wait4, which covers the stage and the worker processes it waited for).

    nice -n 10 .venv/bin/python bench/engine_bench.py 1e6
"""

import sys
import tempfile
from pathlib import Path

from generate_prepare import run_stage
from scale_repro import set_engine, synthetic_clone

STAGES = ["train_ols", "train_ridge", "train_lasso", "evaluate"]


def main() -> None:
    n_samples = int(float(sys.argv[1])) if len(sys.argv) > 1 else 10**6
    with tempfile.TemporaryDirectory() as tmp:
        repo, env = synthetic_clone(Path(tmp), n_samples, "local")
        rows = []
        for engine in ["local", "dask"]:
            set_engine(repo, engine)
            if engine == "local":
                run_stage(["dvc", "repro", "prepare"], repo, env)
            for stage in STAGES:
                command = ["dvc", "repro", "--single-item", "--force", stage]
                wall, cpu, peak = run_stage(command, repo, env)
                rows.append((engine, stage, wall, cpu, peak))
                print(f"  {engine} {stage}: {wall:.1f} s wall, {cpu:.1f} s CPU", flush=True)
    print(f"| rows | engine | stage | wall s | CPU s | peak RSS MiB |\n|{' ---: |' * 6}")
    for engine, stage, wall, cpu, peak in rows:
        print(f"| {n_samples:.0e} | {engine} | {stage} | {wall:.1f} | {cpu:.1f} | {peak:.0f} |")


if __name__ == "__main__":
    main()
