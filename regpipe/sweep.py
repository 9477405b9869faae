"""regpipe-sweep: the leaderboard of an alpha sweep: its experiments listed by `dvc exp show
--json`, their metrics read from the files committed at each experiment's revision.

A sweep is the set of experiments DVC ran from one baseline commit (``dvc exp run --queue -S
'train_ridge.alpha=0.1,1,10'`` then ``dvc queue start``). This command ranks the finished ones
by cross-validated RMSE (the honest selection score; the test RMSE is shown beside it, never
used to choose), names the failed ones with the error from their queue log, and writes the
leaderboard as DVC plot data plus a ``dvc.yaml`` holding its plot definition, so that
``dvc plots show`` draws CV and test RMSE against alpha.
"""

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd
import yaml

from regpipe.errors import UserError, run
from regpipe.io import atomic_path, write_table
from regpipe.pipeline_paths import pipeline_paths
from regpipe.reports import Evaluation, TrainMetrics, committed_report
from regpipe.tools import run_tool

UNFINISHED = {"queued", "running"}
SWEEP_FILE = "sweep.csv"
SWEEPABLE = ("train_ridge.alpha", "train_lasso.alpha")


@dataclass(frozen=True)
class Trial:
    """One experiment of the sweep: its swept value and the metrics of the swept model."""

    name: str
    alpha: float
    cv_rmse_mean: float
    test_rmse: float
    test_r2: float | None
    champion: str
    gate_passed: bool


TRIAL_COLUMNS = list(Trial.__dataclass_fields__)


@dataclass(frozen=True)
class Sweep:
    baseline: str
    finished: list[Trial]
    failed: dict[str, str]  # experiment name -> why it failed
    unfinished: list[str]


def _log_error(executor: dict | None) -> str:
    """Our stage's message from a queued experiment's log (``error:`` and its indented lines)."""
    log = ((executor or {}).get("local") or {}).get("log")
    if not log or not Path(log).is_file():
        return "failed (no log kept; rerun it with `dvc exp run` to see why)"
    lines = Path(log).read_text(errors="replace").splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("error:")]
    if not starts:
        return next((line for line in reversed(lines) if line.startswith("ERROR:")), "failed")
    message = [lines[starts[-1]].removeprefix("error:").strip()]
    message += [line.strip() for line in lines[starts[-1] + 1 :] if line.startswith("  ")]
    return " ".join(message)


def read_trial(repo: Path, name: str, rev: str, param: str) -> Trial:
    """An experiment's trial from the metrics files committed at its revision (an experiment is
    a commit under refs/exps), where that revision's dvc.yaml puts them.

    ``dvc exp show --json`` also carries metrics, but leaves null values and empty lists out;
    the files themselves are the record, read whole and checked against their typed models.
    """
    section = param.split(".")[0]
    paths = pipeline_paths(repo, rev)
    label = f"experiment {name} ({rev[:12]})"
    evaluation = committed_report(Evaluation, repo, rev, paths.evaluate_metrics, label=label)
    training = committed_report(TrainMetrics, repo, rev, paths.train_metrics(section), label=label)
    test = evaluation.models[section.removeprefix("train_")]
    return Trial(
        name=name,
        alpha=training.alpha,  # the swept value, or the one the CV search chose
        cv_rmse_mean=training.cv_rmse_mean,
        test_rmse=test.rmse,
        test_r2=test.r2,
        champion=evaluation.champion,
        gate_passed=evaluation.gate.passed,
    )


def parse_experiments(shown: list[dict], param: str, repo: Path) -> Sweep:
    """The sweep of ``param`` among the experiments of the first baseline commit listed.

    ``shown`` is the parsed output of ``dvc exp show --json`` (a list of baselines, the
    workspace first, each with ``experiments`` holding ``revs``): it says which experiments
    exist, their names, revisions and states; each finished one's metrics are read from git
    in ``repo`` (:func:`read_trial`). One whose files are missing or do not fit is failed.
    """
    if param not in SWEEPABLE:
        raise UserError(f"cannot summarise a sweep of {param!r}; choose one of {SWEEPABLE}")
    baselines = [entry for entry in shown if entry["rev"] != "workspace"]
    if not baselines:
        raise UserError("`dvc exp show` lists no commit: commit the pipeline first")
    baseline = baselines[0]
    finished, failed, unfinished = [], {}, []
    for experiment in baseline.get("experiments") or []:
        executor = experiment.get("executor")
        state = (executor or {}).get("state", "success")
        for exp_rev in experiment["revs"]:
            name = exp_rev.get("name") or exp_rev["rev"][:7]
            if state in UNFINISHED:
                unfinished.append(name)
            elif state == "failed" or exp_rev.get("error"):
                failed[name] = _log_error(executor)
            else:
                try:
                    finished.append(read_trial(repo, name, exp_rev["rev"], param))
                except UserError as error:
                    failed[name] = str(error)
    finished.sort(key=lambda trial: (trial.cv_rmse_mean, trial.alpha))
    return Sweep(baseline["rev"], finished, failed, unfinished)


def exp_show(repo: Path, rev: str | None = None) -> list[dict]:
    """The parsed ``dvc exp show --json`` of ``repo``: the experiments of ``rev`` (or HEAD)."""
    args = ["dvc", "exp", "show", "--json", "--no-pager", *(["--rev", rev] if rev else [])]
    return json.loads(run_tool(*args, cwd=repo))


def sweep_edge(sweep: Sweep) -> str | None:
    """A warning when the best trial's alpha is the lowest or highest value swept (of at least
    three): the best alpha may lie beyond what was tried."""
    alphas = sorted({trial.alpha for trial in sweep.finished})
    if len(alphas) < 3:
        return None
    best = sweep.finished[0].alpha
    if best not in (alphas[0], alphas[-1]):
        return None
    side = "lowest" if best == alphas[0] else "highest"
    return (
        f"warning: the best alpha {best:.6g} is the {side} value swept: the best may lie beyond "
        "it; widen the sweep on that side"
    )


def _r2(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"  # null: undefined on a 1-row split


def leaderboard(sweep: Sweep, param: str) -> str:
    """A plain-text table, best CV RMSE first, then the failed and unfinished experiments."""
    header = f"{'rank':>4}  {'experiment':<20} {param:>18} {'CV RMSE':>9} {'test RMSE':>9} "
    header += f"{'test R2':>8}  champion  gate"
    rows = [header]
    for rank, trial in enumerate(sweep.finished, start=1):
        rows.append(
            f"{rank:>4}  {trial.name:<20} {trial.alpha:>18.6g} {trial.cv_rmse_mean:>9.4f} "
            f"{trial.test_rmse:>9.4f} {_r2(trial.test_r2):>8}  {trial.champion:<8}  "
            f"{'passed' if trial.gate_passed else 'FAILED'}"
        )
    edge = sweep_edge(sweep)
    if edge:
        rows.append(edge)
    rows += [f"failed: {name}: {why}" for name, why in sorted(sweep.failed.items())]
    if sweep.unfinished:
        rows.append(f"still queued or running: {', '.join(sorted(sweep.unfinished))}")
    return "\n".join(rows)


def plot_definition(param: str) -> dict:
    """A dvc.yaml ``plots:`` entry drawing CV and test RMSE against the swept value."""
    return {
        "plots": [
            {
                f"{param.replace('.', '_')}_sweep": {
                    "template": "linear",
                    "x": "alpha",
                    "y": {SWEEP_FILE: ["cv_rmse_mean", "test_rmse"]},
                    "x_label": param,
                    "y_label": "RMSE",
                    "title": f"RMSE against {param}",
                }
            }
        ]
    }


def write_plot(sweep: Sweep, param: str, out_dir: Path) -> None:
    """``out_dir``/sweep.csv (rows sorted by alpha) and ``out_dir``/dvc.yaml (its plot)."""
    rows = pd.DataFrame([asdict(trial) for trial in sweep.finished], columns=TRIAL_COLUMNS)
    write_table(rows.sort_values("alpha"), out_dir / SWEEP_FILE)
    with atomic_path(out_dir / "dvc.yaml") as tmp:
        tmp.write_text(yaml.safe_dump(plot_definition(param), sort_keys=False))


def wait_for_queue(repo: Path, poll_seconds: float, rev: str | None = None) -> list[dict]:
    """Poll ``dvc exp show --json`` until no experiment of the queue is queued or running."""
    while True:
        shown = exp_show(repo, rev)
        states = [
            (experiment.get("executor") or {}).get("state")
            for entry in shown
            for experiment in entry.get("experiments") or []
        ]
        if not UNFINISHED & set(states):
            return shown
        time.sleep(poll_seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--param", default=SWEEPABLE[0], choices=SWEEPABLE, help="the swept key")
    parser.add_argument("--rev", help="the sweep's baseline commit (default: HEAD)")
    parser.add_argument("--out-dir", type=Path, default=Path("sweep"), help="plot data + dvc.yaml")
    parser.add_argument("--wait", action="store_true", help="wait for the queue to finish first")
    parser.add_argument("--poll-seconds", type=float, default=5.0)
    args = parser.parse_args()

    repo = Path.cwd()
    if args.wait:
        shown = wait_for_queue(repo, args.poll_seconds, args.rev)
    else:
        shown = exp_show(repo, args.rev)
    sweep = parse_experiments(shown, args.param, repo)
    if not sweep.finished and not sweep.unfinished:
        problem = "every experiment failed" if sweep.failed else "no experiments"
        raise UserError(
            f"{problem} below {sweep.baseline[:7]}; queue a sweep with "
            f"dvc exp run --queue -S '{args.param}=0.1,1,10' && dvc queue start -j 2"
            + (f"\n{leaderboard(sweep, args.param)}" if sweep.failed else "")
        )
    print(leaderboard(sweep, args.param))
    write_plot(sweep, args.param, args.out_dir)
    print(f"plot data: {args.out_dir / SWEEP_FILE}; draw it with `dvc plots show {args.out_dir}`")
    if sweep.failed:
        sys.exit(1)


def main_cli() -> None:
    """The ``regpipe-sweep`` console entry point."""
    run(main)


if __name__ == "__main__":
    main_cli()
