"""generate + prepare on the synthetic source: wall time and peak memory against the row count.

Each stage runs as dvc runs it (its own `python stages/...` process, params.yaml from the
working directory), in a temporary directory holding a copy of params.yaml with
``generate.source: synthetic`` and ``generate.synthetic.n_samples`` set; the peak resident
memory is the stage process's own (wait4 rusage).

    python bench/generate_prepare.py 1e4 1e5 1e6 1e7
"""

import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def run_stage(args: list[str], cwd: Path, env: dict | None = None) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds and peak RSS in MiB of one command and what it waited for."""
    start = time.perf_counter()
    process = subprocess.Popen(args, cwd=cwd, env=env)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{shlex.join(args)} failed")
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def bench(n_samples: int) -> dict[str, float]:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["generate"]["source"] = "synthetic"
    params["generate"]["synthetic"].update(n_samples=n_samples, n_categorical=0)
    params["generate"]["current"]["shift_sd"] = {}  # the default shifts bmi, a Diabetes column
    with tempfile.TemporaryDirectory(dir=ROOT / "bench") as folder:
        work = Path(folder)
        (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        generate = run_stage(
            [
                sys.executable,
                str(ROOT / "stages/generate.py"),
                "--out-data=raw/data.parquet",
                "--out-truth=raw/truth.json",
            ],
            work,
        )
        data_mib = (work / "raw/data.parquet").stat().st_size / 2**20
        prepare = run_stage(
            [
                sys.executable,
                str(ROOT / "stages/prepare.py"),
                "--data=raw/data.parquet",
                "--contract=contract.yaml",
                "--out-train=prepared/train.parquet",
                "--out-test=prepared/test.parquet",
                "--out-stats=prepared/train_stats.json",
                "--out-quality=data_quality.json",
            ],
            work,
        )
    return {"generate": generate, "prepare": prepare, "data_mib": data_mib}


def main() -> None:
    sizes = [int(float(size)) for size in sys.argv[1:]] or [10**4, 10**5, 10**6]
    print("| rows | parquet MiB | stage | wall s | CPU s | peak RSS MiB |")
    print("| ---: | ---: | --- | ---: | ---: | ---: |")
    for n_samples in sizes:
        result = bench(n_samples)
        for stage in ("generate", "prepare"):
            wall, cpu, peak = result[stage]
            print(
                f"| {n_samples:.0e} | {result['data_mib']:.0f} | {stage} | {wall:.1f} | "
                f"{cpu:.1f} | {peak:.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
