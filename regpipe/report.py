"""regpipe-report: the pull-request report, in Markdown, of this workspace against a base commit.

It puts together what a reviewer needs beside a change of params or code: ``dvc params diff``,
``dvc metrics diff``, the ``dvc plots diff`` (rendered to a folder, linked), the quality gate of
the evaluate stage's metrics and the champion's test RMSE against the base's. The check fails (exit
status 1, after the report is written) when the gate failed or that RMSE rose by more than
``report.max_rmse_regression`` of params.yaml. CI posts the Markdown as one pull-request comment,
found again on the next push by MARKER; ``make report`` runs the same thing locally.
"""

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from regpipe.errors import run
from regpipe.io import atomic_path
from regpipe.params import load_params
from regpipe.pipeline_paths import pipeline_paths
from regpipe.reports import Evaluation, committed_report, read_report
from regpipe.tools import run_tool

MARKER = "<!-- regpipe-report -->"


@dataclass(frozen=True)
class Verdict:
    passed: bool
    reasons: list[str]
    base_champion: str
    base_rmse: float
    champion: str
    rmse: float

    @property
    def change(self) -> float:
        """The champion's test RMSE relative to the base's: +0.02 is 2% worse."""
        return self.rmse / self.base_rmse - 1.0


def judge(base: Evaluation, head: Evaluation, *, max_rmse_regression: float) -> Verdict:
    """Compare two evaluations: the gate of ``head`` and its champion's test RMSE against the
    base champion's, allowing a rise of ``max_rmse_regression``."""
    base_champion, champion = base.champion, head.champion
    base_rmse = base.models[base_champion].rmse
    rmse = head.models[champion].rmse
    reasons = [f"quality gate: {reason}" for reason in head.gate.reasons]
    if not head.gate.passed and not reasons:
        reasons.append("quality gate failed")
    if rmse > base_rmse * (1.0 + max_rmse_regression):
        reasons.append(
            f"champion test RMSE {rmse:.4f} ({champion}) is {rmse / base_rmse - 1.0:+.2%} "
            f"against the base's {base_rmse:.4f} ({base_champion}); "
            f"report.max_rmse_regression allows {max_rmse_regression:+.2%}"
        )
    return Verdict(not reasons, reasons, base_champion, base_rmse, champion, rmse)


def base_evaluation(base: str) -> Evaluation:
    """The base commit's evaluate metrics, from git (metrics are committed), where the base's
    dvc.yaml puts them."""
    path = pipeline_paths(rev=base).evaluate_metrics
    return committed_report(Evaluation, Path.cwd(), base, path, label=base)


def render(
    *,
    base: str,
    verdict: Verdict,
    params_diff: str,
    metrics_diff: str,
    plots: str,
    tolerance: float,
) -> str:
    """The report's Markdown, MARKER first so CI can find and update its own comment."""
    status = "passed" if verdict.passed else "FAILED"
    reasons = "".join(f"\n- {reason}" for reason in verdict.reasons)
    return (
        f"{MARKER}\n## regpipe report against `{base}`: {status}{reasons}\n\n"
        f"| champion | test RMSE | change |\n| --- | --- | --- |\n"
        f"| `{base}`: {verdict.base_champion} | {verdict.base_rmse:.4f} | |\n"
        f"| this change: {verdict.champion} | {verdict.rmse:.4f} | "
        f"{verdict.change:+.2%} (allowed {tolerance:+.2%}) |\n\n"
        f"### Params (`dvc params diff {base} --md`)\n\n"
        f"{params_diff.strip() or 'No params changed.'}\n\n"
        f"### Metrics (`dvc metrics diff {base} --md`)\n\n"
        f"{metrics_diff.strip() or 'No metrics changed.'}\n\n"
        f"### Plots (`dvc plots diff {base}`)\n\n{plots}\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default="main", help="the commit to compare with (git rev)")
    parser.add_argument("--out", type=Path, help="write the Markdown here too (it is printed)")
    parser.add_argument("--plots-dir", type=Path, default=Path("report_plots"))
    parser.add_argument("--plots-url", help="where CI publishes --plots-dir (linked instead)")
    args = parser.parse_args()

    tolerance = load_params("report").max_rmse_regression
    verdict = judge(
        base_evaluation(args.base),
        read_report(Evaluation, pipeline_paths().evaluate_metrics),
        max_rmse_regression=tolerance,
    )
    run_tool("dvc", "plots", "diff", args.base, "--out", str(args.plots_dir))
    plots = (
        f"[Open the rendered plots]({args.plots_url}) (`{args.plots_dir}/index.html`)."
        if args.plots_url
        else f"Rendered to `{args.plots_dir}/index.html`."
    )
    markdown = render(
        base=args.base,
        verdict=verdict,
        params_diff=run_tool("dvc", "params", "diff", args.base, "--md"),
        metrics_diff=run_tool("dvc", "metrics", "diff", args.base, "--md"),
        plots=plots,
        tolerance=tolerance,
    )
    print(markdown)
    if args.out:
        with atomic_path(args.out) as tmp:
            tmp.write_text(markdown)
    if not verdict.passed:
        print("check failed: " + "; ".join(verdict.reasons), file=sys.stderr)
        sys.exit(1)


def main_cli() -> None:
    """The ``regpipe-report`` console entry point."""
    run(main)


if __name__ == "__main__":
    main_cli()
