"""Peak memory of train_ridge and evaluate against the row count, code revision by revision.

For each size, a clone of this repository gets the synthetic source with N rows x 10 features;
generate, prepare and the three train stages run once (not measured). Then, for each git
revision named, the clone's ``regpipe/`` and ``stages/`` are checked out at that revision (the
data, params and dvc.yaml stay) and ``train_ridge`` and ``evaluate`` run as
``dvc repro --single-item --force <stage>``: wall and CPU seconds and the peak RSS of the
largest process (wait4). The clones are kept under ``--work`` so a later revision can be
measured on the same data.

    nice -n 10 .venv/bin/python bench/train_evaluate_memory.py --work /tmp/tem 1e6 1e7 \\
        --revisions main HEAD
"""

import argparse
import subprocess
from pathlib import Path

import yaml
from generate_prepare import run_stage
from pipeline_time import ENV, ROOT

STAGES = ["train_ridge", "evaluate"]


def prepared_clone(work: Path, n_samples: int) -> tuple[Path, dict[str, str]]:
    """The clone for ``n_samples`` rows with its data prepared and models trained (reused)."""
    repo = work / f"{n_samples:.0e}"
    env = {**ENV, "PYTHONPATH": str(repo)}
    if not (repo / "models" / "lasso.joblib").exists():
        subprocess.run(["git", "clone", "-q", str(ROOT), str(repo)], check=True)
        params = yaml.safe_load((repo / "params.yaml").read_text())
        params["generate"]["source"] = "synthetic"
        params["generate"]["synthetic"]["n_samples"] = n_samples
        params["generate"]["current"]["shift_sd"] = {"x0": 0.5}  # bmi is a Diabetes column
        (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        (repo / "data_contract.yaml").unlink()  # Diabetes' contract; prepare infers a new one
        for stage in ["generate", "prepare", "train_ols", "train_ridge", "train_lasso"]:
            run_stage(["dvc", "repro", "--single-item", stage], repo, env)
    return repo, env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--work", type=Path, required=True, help="where the clones are kept")
    parser.add_argument("--revisions", nargs="+", default=["HEAD"], help="git revisions of ROOT")
    parser.add_argument("rows", nargs="+")
    args = parser.parse_args()
    commits = {
        revision: subprocess.run(
            ["git", "rev-parse", "--short", revision],
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        for revision in args.revisions
    }
    rows = []
    for n_samples in (int(float(size)) for size in args.rows):
        repo, env = prepared_clone(args.work, n_samples)
        for revision, commit in commits.items():
            subprocess.run(["git", "fetch", "-q", "origin"], cwd=repo, check=True)  # ROOT
            subprocess.run(
                ["git", "checkout", "-q", commit, "--", "regpipe", "stages"], cwd=repo, check=True
            )
            for stage in STAGES:
                command = ["dvc", "repro", "--single-item", "--force", stage]
                wall, cpu, peak = run_stage(command, repo, env)
                rows.append((n_samples, f"{revision} ({commit})", stage, wall, cpu, peak))
                print(f"  {rows[-1]}", flush=True)
    print("| rows | code | stage | wall s | CPU s | peak RSS MiB |\n|" + " ---: |" * 6)
    for n_samples, code, stage, wall, cpu, peak in rows:
        print(f"| {n_samples:.0e} | {code} | {stage} | {wall:.1f} | {cpu:.1f} | {peak:.0f} |")


if __name__ == "__main__":
    main()
