"""drift: compare the current batch with the training split, column by column, and the champion.

The report is data: the stage succeeds whatever the verdict, unless drift.fail_on_drift is true
(then it fails after writing the report, for scheduled checks that must alert).
"""

from regpipe.errors import UserError, quiet_interrupts, run

quiet_interrupts()  # first: a Ctrl-C while the libraries below load prints no traceback

import argparse

# Before pandas: importing skops.io looks each scipy.special ufunc up in every module loaded
# before scipy.special, ~0.6 s of CPU when pandas and pyarrow come first (regpipe.io._skops_io).
import scipy.special  # noqa: F401

from regpipe.drift import (
    champion_predictions,
    concept_drift,
    concept_rows,
    data_drift,
    dataset_verdict,
    distribution_table,
    drift_report,
    drift_settings,
    read_current,
    summarised,
    summary,
)
from regpipe.io import ParquetColumns, load_safe_model, read_json, read_table, write_table
from regpipe.params import load_params
from regpipe.reports import ConceptDrift, ModelCard, read_report, write_report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--train", required=True)
    parser.add_argument("--stats", required=True)
    parser.add_argument("--current", required=True)
    parser.add_argument("--champion", required=True)
    parser.add_argument("--model-card", required=True)
    parser.add_argument("--out-metrics", required=True)
    parser.add_argument("--out-plot", required=True)
    args = parser.parse_args()

    params = load_params("drift")
    target = load_params("prepare").target
    # The reference is read column by column as the tests ask for them (Parquet), or, longer
    # than drift.reference_sample.rows, summarised in one pass in chunks (below).
    parquet = args.train.endswith(".parquet")
    reference = ParquetColumns(args.train) if parquet else read_table(args.train)
    current = read_current(args.current)
    damaged = current.attrs.get("damaged_lines", [])
    if damaged:
        print(f"drift: skipped {len(damaged)} cut last line(s) of the request log: {damaged}")
    features = [column for column in reference.columns if column != target]
    # exact counts and a sample: memory no longer grows with the training split (docs/scale.md)
    reference = summarised(reference, current, features, **params.reference_sample.model_dump())
    stats = read_json(args.stats)
    columns = data_drift(reference, current, features, stats=stats, **drift_settings(params))
    numeric = [name for name in features if stats.get(name, {}).get("kind") == "numeric"]
    X, y, reason = concept_rows(current, features, target, numeric)
    if not reason:
        card = read_report(ModelCard, args.model_card)
        model = load_safe_model(args.champion, sha256=card.skops_sha256)
        predictions, reason = champion_predictions(model, X)
    if reason:
        concept = ConceptDrift(drift=None, reason=reason)
    else:
        concept = concept_drift(
            y,
            predictions,
            test_rmse=card.test_metrics.rmse,
            **params.concept.model_dump(),
        )
    report = drift_report(
        n_reference=len(reference),
        n_current=len(current),
        damaged_log_lines=len(damaged),
        dataset=dataset_verdict(
            columns, drift_share=params.drift_share, strict=params.strict, p_value=params.p_value
        ),
        concept=concept,
        columns=columns,
    )
    write_report(report, args.out_metrics)
    plot = distribution_table(reference, current, columns, n_bins=params.plot_bins)
    write_table(plot, args.out_plot)
    print(summary(report))
    if params.fail_on_drift and (report.dataset.drift or report.concept.drift):
        raise UserError(f"drift detected (drift.fail_on_drift is true); see {args.out_metrics}")


if __name__ == "__main__":
    run(main)
