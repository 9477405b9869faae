"""Peak memory of prepare against the row count, code revision by revision, same data.

For each size, the synthetic source with N rows x 10 numeric features is generated once under
``--work`` (or ``--raw`` names an existing raw Parquet file, e.g. a 1e8-row one). Then, for
each git revision named, that revision's ``regpipe/`` and ``stages/`` (``git archive``) run
``stages/prepare.py`` on it, the revisions alternating ``--repeat`` times, the contract
inferred each time: wall and CPU seconds and the peak RSS (wait4). Each run's outputs are
hashed (SHA-256) and deleted, and every revision's hashes are compared with the first's: the
outputs must be byte for byte the same. ``--chunk-rows`` sets ``prepare.chunk_rows``: small
chunks make the per-row state show at sizes where a 1,000,000-row chunk would hide it.

    nice -n 10 .venv/bin/python bench/prepare_memory.py --work /tmp/prepmem 1e6 1e7 \\
        --revisions main HEAD --repeat 2 --chunk-rows 100000
"""

import argparse
import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import yaml
from generate_prepare import run_stage
from pipeline_time import ENV, ROOT

OUTPUTS = ["contract.yaml", "train.parquet", "test.parquet", "train_stats.json", "quality.json"]


def raw_table(work: Path, n_samples: int, chunk_rows: int | None, raw: Path | None) -> Path:
    """The folder holding params.yaml and raw/data.parquet for ``n_samples`` rows (reused)."""
    folder = work / f"{n_samples:.0e}-{chunk_rows or 'default'}"
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["generate"]["source"] = "synthetic"
    params["generate"]["synthetic"].update(n_samples=n_samples, n_categorical=0)
    params["generate"]["current"]["shift_sd"] = {}  # the default shifts bmi, a Diabetes column
    if chunk_rows:
        params["prepare"]["chunk_rows"] = chunk_rows
    (folder / "raw").mkdir(parents=True, exist_ok=True)
    (folder / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    data = folder / "raw" / "data.parquet"
    if raw is not None and not data.exists():
        data.symlink_to(raw.resolve())
    if not data.exists():
        generate = [sys.executable, str(ROOT / "stages/generate.py")]
        run_stage([*generate, "--out-data=raw/data.parquet", "--out-truth=raw/truth.json"], folder)
    return folder


def code_at(work: Path, revision: str) -> Path:
    """``regpipe/`` and ``stages/`` of ``revision``, extracted once under ``work``."""
    commit = (
        subprocess.run(
            ["git", "rev-parse", "--short", revision], cwd=ROOT, check=True, capture_output=True
        )
        .stdout.decode()
        .strip()
    )
    code = work / f"code-{commit}"
    if not code.exists():
        code.mkdir(parents=True)
        archive = subprocess.run(
            ["git", "archive", commit, "regpipe", "stages"],
            cwd=ROOT,
            check=True,
            capture_output=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(code)], input=archive, check=True)
    return code


def run_prepare(folder: Path, code: Path) -> tuple[tuple[float, float, float], dict[str, str]]:
    """(wall s, CPU s, peak MiB) of one prepare run, and its outputs' SHA-256 (then deleted)."""
    out = folder / f"out-{code.name}"
    shutil.rmtree(out, ignore_errors=True)
    paths = dict(zip(OUTPUTS, [out / name for name in OUTPUTS], strict=True))
    args = [
        sys.executable,
        str(code / "stages/prepare.py"),
        "--data=raw/data.parquet",
        f"--contract={paths['contract.yaml']}",
        f"--out-train={paths['train.parquet']}",
        f"--out-test={paths['test.parquet']}",
        f"--out-stats={paths['train_stats.json']}",
        f"--out-quality={paths['quality.json']}",
    ]
    figures = run_stage(args, folder, {**ENV, "PYTHONPATH": str(code)})
    digests = {}
    for name, path in paths.items():
        digest = hashlib.sha256()
        with open(path, "rb") as stream:
            while block := stream.read(1 << 24):
                digest.update(block)
        digests[name] = digest.hexdigest()
    shutil.rmtree(out)
    return figures, digests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--work", type=Path, required=True, help="where data and code are kept")
    parser.add_argument("--revisions", nargs="+", default=["HEAD"], help="git revisions of ROOT")
    parser.add_argument("--repeat", type=int, default=1, help="runs per revision, alternating")
    parser.add_argument("--chunk-rows", type=int, help="prepare.chunk_rows (default: params')")
    parser.add_argument("--raw", type=Path, help="an existing raw Parquet file (one size)")
    parser.add_argument("rows", nargs="+")
    args = parser.parse_args()
    codes = [code_at(args.work, revision) for revision in args.revisions]
    print("| rows | chunk_rows | revision | wall s | CPU s | peak RSS MiB | outputs |")
    print("| ---: | ---: | --- | ---: | ---: | ---: | --- |")
    for n_samples in (int(float(size)) for size in args.rows):
        folder = raw_table(args.work, n_samples, args.chunk_rows, args.raw)
        first = None
        for _ in range(args.repeat):
            for code in codes:
                (wall, cpu, peak), digests = run_prepare(folder, code)
                first = first or digests
                same = "same" if digests == first else "DIFFER"
                print(
                    f"| {n_samples:.0e} | {args.chunk_rows or 'default'} | {code.name[5:]} | "
                    f"{wall:.1f} | {cpu:.1f} | {peak:.0f} | {same} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
