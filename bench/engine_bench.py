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

import yaml
from generate_prepare import run_stage
from pipeline_time import ENV, fresh_clone

STAGES = ["train_ols", "train_ridge", "train_lasso", "evaluate"]


def main() -> None:
    n_samples = int(float(sys.argv[1])) if len(sys.argv) > 1 else 10**6
    with tempfile.TemporaryDirectory() as tmp:
        repo = fresh_clone(Path(tmp))
        params = yaml.safe_load((repo / "params.yaml").read_text())
        params["generate"]["source"] = "synthetic"
        params["generate"]["synthetic"]["n_samples"] = n_samples
        params["generate"]["current"]["shift_sd"] = {"x0": 0.5}  # bmi is a Diabetes column
        (repo / "data_contract.yaml").unlink()  # Diabetes' contract; prepare infers a new one
        env = {**ENV, "PYTHONPATH": str(repo)}  # the clone's regpipe, not the editable install's
        rows = []
        for engine in ["local", "dask"]:
            params["engine"]["name"] = engine
            (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
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
