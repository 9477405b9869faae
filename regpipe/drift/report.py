"""The drift report (:class:`regpipe.reports.DriftReport`): built in one place, summarised for
the terminal, and plotted."""

import pandas as pd

from regpipe.drift.reference import SampledColumn
from regpipe.drift.statistics import binned, clean
from regpipe.reports import ColumnDrift, ConceptDrift, DatasetDrift, DriftReport


def drift_report(
    *,
    n_reference: int,
    n_current: int,
    damaged_log_lines: int,
    dataset: DatasetDrift,
    concept: ConceptDrift,
    columns: dict[str, ColumnDrift],
) -> DriftReport:
    """metrics/drift.json's content: sizes, the dataset verdict, concept drift, every column."""
    damaged = {"damaged_log_lines": damaged_log_lines} if damaged_log_lines else {}
    return DriftReport(
        n_reference=n_reference,
        n_current=n_current,
        **damaged,  # left out of the file when no line was skipped
        dataset=dataset,
        concept=concept,
        columns=columns,
    )


def distribution_table(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    columns: dict[str, ColumnDrift],
    *,
    n_bins: int,
) -> pd.DataFrame:
    """Long table (column, bin, value, side, share) of both distributions of drifted columns."""
    rows = []
    for name, result in columns.items():
        if not result.drift:
            continue
        numeric = result.type == "numeric"
        column = reference[name]
        # a summarised reference's shares are its sample's, or its every value when kept
        ref = column.distribution() if isinstance(column, SampledColumn) else clean(column, numeric)
        cur = clean(current[name], numeric)
        labels, ref_share, cur_share = binned(ref, cur, numeric, n_bins)
        if numeric:
            labels = [f"{value:.4g}" for value in labels]
        for side, shares in (("reference", ref_share), ("current", cur_share)):
            for position, (label, share) in enumerate(zip(labels, shares, strict=True)):
                rows.append((name, position, label, side, round(float(share), 6)))
    return pd.DataFrame(rows, columns=["column", "bin", "value", "side", "share"])


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def summary(report: DriftReport) -> str:
    """A one-screen text summary of a drift report, drifted columns first."""
    dataset = report.dataset
    lines = [
        f"drift: {report.n_reference} reference rows, {report.n_current} current rows",
        f"{'column':<14}{'test':<15}{'score':>10}{'threshold':>11}  drift  "
        f"{'psi':>7}  {'missing':>7}  {'outside':>7}",
    ]
    order = sorted(report.columns.items(), key=lambda item: item[1].drift is not True)
    for name, result in order:
        score = result.p_value if result.p_value is not None else result.distance
        flag = {True: "YES", False: "no", None: "n/a"}[result.drift]
        lines.append(
            f"{name:<14}{result.test or '-':<15}{_number(score):>10}"
            f"{_number(result.threshold):>11}  {flag:<5}  {_number(result.psi):>7}"
            f"  {_number(result.missing_current):>7}"
            f"  {_number(result.out_of_range_current):>7}"
            + (f"  ({result.reason})" if result.reason else "")
        )
    verdict = {True: "DRIFT", False: "no drift", None: "unknown (nothing could be tested)"}
    lines.append(
        f"dataset: {verdict[dataset.drift]}: {dataset.n_drifted}/{dataset.n_tested} "
        f"tested columns drifted (share {_number(dataset.share_drifted)}, "
        f"alarm at {dataset.drift_share})"
    )
    if dataset.untested_columns:
        lines.append(f"not tested: {', '.join(dataset.untested_columns)}")
    concept = report.concept
    if concept.drift is None:
        lines.append(f"concept: not checked ({concept.reason})")
    else:
        low, high = concept.rmse_interval
        lines.append(
            f"concept: {'DRIFT' if concept.drift else 'no drift'}: champion RMSE "
            f"{concept.rmse_current:.4g} [{low:.4g}, {high:.4g}] vs test "
            f"{concept.rmse_test:.4g} (alarm above {concept.rmse_limit:.4g})"
        )
    return "\n".join(lines)
