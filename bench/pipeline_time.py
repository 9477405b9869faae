"""Wall and CPU time of `dvc repro` (full and no-op) against one fused process doing the same work.

The fused run executes every stage command from dvc.yaml, in DAG order, inside ONE interpreter
(runpy), so it pays the imports once; the difference is what separate stage processes and DVC's
own bookkeeping cost. After each fused run `dvc status` must be clean: the fused process wrote
exactly the outputs dvc.lock records, so both sides did the same work. CPU seconds (user +
system of every child process) are reported beside wall seconds: on a shared box the CPU ratio
is the stable figure. Run from the repository root:

    .venv/bin/python bench/pipeline_time.py [--repeat 3] [--split] [--stages] [--dvc-only]

``--split`` runs the full `dvc repro` with a ``python`` shim first on PATH that records each
stage process's CPU (the shell's ``times``), so one run splits into its stage processes and
DVC's own work (the rest: start, lock, hashing, dvc.lock rewrites).

``--stages`` also runs each stage command alone (after the full runs, ``--repeat`` times) and
reports its median wall, CPU and import seconds (``python -X importtime``: the summed cumulative
time of top-level imports, lazy ones included). ``--dvc-only`` measures what DVC itself spends
per stage: the same DAG of eight stages whose commands are a shell ``echo`` into their output.
"""

import argparse
import os
import re
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ENV = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1"}
ENV.pop("PYTHONPATH", None)  # fresh_clone points it at the clone, whose regpipe is measured
TIMES_LINE = re.compile(r"(\d+)m([\d.]+)s\s+(\d+)m([\d.]+)s")  # sh's `times`: user, system
SHIM = """#!/bin/sh
# a stage's command line, then the CPU its python used (the children's line of `times`)
echo "$*" >> {log}
{python} "$@"
status=$?
times >> {log}
exit $status
"""
IMPORT_LINE = re.compile(r"import time:\s+\d+ \|\s+(\d+) \| (\S.*)$")  # top level: no indent


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(args: list[str], cwd: Path, env: dict | None = None) -> tuple[float, float, str]:
    """(wall s, CPU s of the process and its children, stderr) of one command."""
    cpu, start = children_cpu(), time.perf_counter()
    done = subprocess.run(args, cwd=cwd, env=env or ENV, check=True, capture_output=True, text=True)
    return time.perf_counter() - start, children_cpu() - cpu, done.stderr


def fresh_clone(parent: Path) -> Path:
    """A clone of the committed tree; its stages import its own regpipe, not the editable
    install's (PYTHONPATH comes before the venv's import hooks)."""
    repo = parent / "repo"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(repo)], check=True)
    ENV["PYTHONPATH"] = str(repo)
    # bytecode written before timing: the first full run would otherwise compile regpipe for
    # every later run (~0.2 s of CPU), the fused one included
    subprocess.run([sys.executable, "-m", "compileall", "-q", "regpipe"], cwd=repo, check=True)
    return repo


def dry_run(repo: Path) -> str:
    """What `dvc repro --dry --force` prints: every stage and its command, in DVC's order."""
    return subprocess.run(
        ["dvc", "repro", "--dry", "--force"],
        cwd=repo,
        env=ENV,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def stage_commands(repo: Path) -> list[str]:
    """Every stage's command, in the order `dvc repro` runs them."""
    return [line[2:] for line in dry_run(repo).splitlines() if line.startswith("> ")]


FUSED = """
import runpy, shlex, sys
for command in sys.argv[1:]:
    argv = shlex.split(command)
    sys.argv = argv[1:]
    runpy.run_path(argv[1], run_name="__main__")
"""


def check_same_outputs(repo: Path) -> None:
    """Stop unless every output in the workspace is the one dvc.lock records."""
    status = subprocess.run(
        ["dvc", "status", "--quiet"], cwd=repo, env=ENV, capture_output=True, text=True
    )
    if status.returncode != 0:
        sys.exit(f"the fused run's outputs differ from dvc.lock's:\n{status.stdout}")


def stage_name(command: str) -> str:
    script, *rest = shlex.split(command)[1:]
    return rest[0] if script.endswith("train.py") else Path(script).stem


def import_seconds(stderr: str) -> float:
    return sum(int(m.group(1)) for line in stderr.splitlines() if (m := IMPORT_LINE.match(line)))


def shim_env(folder: Path) -> tuple[dict, Path]:
    """An environment whose ``python`` logs each stage's CPU to the returned file."""
    folder.mkdir()
    log = folder / "stages.log"
    shim = folder / "python"
    shim.write_text(SHIM.format(log=shlex.quote(str(log)), python=shlex.quote(sys.executable)))
    shim.chmod(0o755)
    return {**ENV, "PATH": f"{folder}{os.pathsep}{ENV['PATH']}"}, log


def stage_cpu(log: Path) -> dict[str, float]:
    """Each stage's CPU seconds from the shim's log (three lines per stage), then emptied."""
    lines = log.read_text().splitlines()
    log.unlink()
    cpu = {}
    for command, children in zip(lines[::3], lines[2::3], strict=True):
        m = TIMES_LINE.match(children)
        cpu[stage_name(f"python {command}")] = sum(60 * int(m[i]) + float(m[i + 1]) for i in (1, 3))
    return cpu


def echo_pipeline(parent: Path) -> Path:
    """A git + DVC repository with eight chained stages whose commands only write one line."""
    repo = parent / "echo"
    repo.mkdir()
    names = ["generate", "prepare", "current", "train_ols", "train_ridge", "train_lasso"]
    names += ["evaluate", "drift"]
    lines = ["stages:"]
    for i, name in enumerate(names):
        deps = f"    deps: [{names[i - 1]}.txt]\n" if i else ""
        lines.append(f"  {name}:\n    cmd: echo {name} > {name}.txt\n{deps}    outs: [{name}.txt]")
    (repo / "dvc.yaml").write_text("\n".join(lines) + "\n")
    for command in (["git", "init", "-q"], ["dvc", "init", "-q"]):
        subprocess.run(command, cwd=repo, env=ENV, check=True)
    return repo


def medians(name: str, runs: list[tuple[float, float]]) -> tuple[float, float]:
    wall = statistics.median(run[0] for run in runs)
    cpu = statistics.median(run[1] for run in runs)
    shown = ", ".join(f"{w:.1f}/{c:.1f}" for w, c in runs)
    print(f"{name:22s} wall {wall:6.2f} s  CPU {cpu:6.2f} s  (runs wall/CPU: {shown})")
    return wall, cpu


def repeat(times: int, before: Callable[[], None], args: list[str], cwd: Path) -> list:
    runs = []
    for _ in range(times):
        before()
        runs.append(timed(args, cwd)[:2])
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--split", action="store_true", help="the full run's stages vs DVC")
    parser.add_argument("--stages", action="store_true", help="each stage alone, with imports")
    parser.add_argument("--dvc-only", action="store_true", help="DVC's own cost: echo stages")
    args = parser.parse_args()

    print(f"load average at start: {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        repo = fresh_clone(Path(tmp))
        commands = stage_commands(repo)
        full, noop, fused, split = [], [], [], []
        env, log = shim_env(Path(tmp) / "shim") if args.split else (ENV, None)
        for _ in range(args.repeat):
            shutil.rmtree(repo / ".dvc" / "cache", ignore_errors=True)
            full.append(timed(["dvc", "repro", "--force", "--no-run-cache"], repo, env)[:2])
            if log:
                split.append(stage_cpu(log))
            noop.append(timed(["dvc", "repro"], repo)[:2])
            fused.append(timed([sys.executable, "-c", FUSED, *commands], repo)[:2])
            check_same_outputs(repo)
        full_wall, full_cpu = medians("dvc repro (full)", full)
        medians("dvc repro (no-op)", noop)
        fused_wall, fused_cpu = medians("fused process", fused)
        wall_ratio, cpu_ratio = full_wall / fused_wall, full_cpu / fused_cpu
        print(f"ratio full/fused: wall {wall_ratio:.2f}, CPU {cpu_ratio:.2f}")
        print("fused run's outputs: those dvc.lock records (dvc status clean)")
        if split:
            print("the full run's CPU, medians: each stage process, and DVC's own (the rest):")
            for name in split[0]:
                print(f"  {name:12s} {statistics.median(run[name] for run in split):5.2f} s")
            stages = [sum(run.values()) for run in split]
            dvc = [cpu - total for (_, cpu), total in zip(full, stages, strict=True)]
            print(f"  {'all stages':12s} {statistics.median(stages):5.2f} s")
            print(f"  {'DVC itself':12s} {statistics.median(dvc):5.2f} s")

        if args.stages:
            print("each stage alone, medians (python -X importtime, which inflates both):")
            total = 0.0
            for command in commands:
                python, *rest = shlex.split(command)
                runs = []
                for _ in range(args.repeat):
                    wall, cpu, stderr = timed([sys.executable, "-X", "importtime", *rest], repo)
                    runs.append((wall, cpu, import_seconds(stderr) / 1e6))
                wall, cpu, imports = (statistics.median(run[i] for run in runs) for i in range(3))
                total += cpu
                print(
                    f"  {stage_name(command):12s} wall {wall:5.2f} s  CPU {cpu:5.2f} s  "
                    f"imports {imports:5.2f} s"
                )
            print(f"  stage processes alone: CPU {total:.2f} s")

        if args.dvc_only:
            echo = echo_pipeline(Path(tmp))
            runs = repeat(
                args.repeat,
                lambda: shutil.rmtree(echo / ".dvc" / "cache", ignore_errors=True),
                ["dvc", "repro", "--force", "--no-run-cache"],
                echo,
            )
            medians("dvc repro, echo stages", runs)
            medians("dvc --version", repeat(args.repeat, lambda: None, ["dvc", "--version"], echo))
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
