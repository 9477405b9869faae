"""train_ols / train_ridge / train_lasso: fit one model on the training split, alpha by CV.

One script serves the three stages; the params section named on the command line says which
model it is (train_ridge -> ridge) and holds all of its knobs. Ridge and LASSO also write their
validation curve (and LASSO its coefficient path) as DVC plot data.
"""

from regpipe.errors import quiet_interrupts, run

quiet_interrupts()  # first: a Ctrl-C while the libraries below load prints no traceback

import argparse
import sys
from collections.abc import Iterator

import pandas as pd

from regpipe.engine import open_engine
from regpipe.io import (
    parquet_num_rows,
    read_parquet_chunks,
    save_model,
    write_table,
)
from regpipe.models import (
    candidate_alphas,
    coefficient_path,
    fit_encoder,
    fit_rows,
    grid_edge,
    make_folds,
    parquet_rows,
    train_report,
    unconverged,
    validation_curve,
)
from regpipe.params import load_params
from regpipe.reports import write_report
from regpipe.search import CHUNK_ROWS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("section", choices=["train_ols", "train_ridge", "train_lasso"])
    parser.add_argument("--train", required=True)
    parser.add_argument("--out-model", required=True)
    parser.add_argument("--out-metrics", required=True)
    parser.add_argument("--out-curve", help="CSV: CV and training RMSE per alpha")
    parser.add_argument("--out-path", help="CSV: coefficients per alpha on all training rows")
    args = parser.parse_args()

    params = load_params(args.section).model_dump()
    target = load_params("prepare").target

    # The training split is read in chunks (Parquet batches), twice at most: the categorical
    # levels, then one pass for the CV statistics and the final fit. Memory: one chunk.
    def frames(columns: list[str] | None = None) -> Iterator[pd.DataFrame]:
        read = None if columns is None else [*columns, target]
        for chunk in read_parquet_chunks(args.train, CHUNK_ROWS, read):
            yield chunk.drop(columns=target)

    parquet_num_rows(args.train)  # a missing file is named before anything is read
    encoder = fit_encoder(frames)
    with open_engine(load_params("engine")) as client:
        rows = parquet_rows(args.train, target, encoder.transform, client)
        result = fit_rows(
            args.section.removeprefix("train_"),
            encoder,
            rows,
            cv=make_folds(**params["cv"], n_rows=rows.n_rows, key=f"{args.section}.cv"),
            alphas=candidate_alphas(params.get("alpha"), params.get("alpha_grid")),
            alpha_rule=params.get("alpha_rule", "min"),
            **params["estimator"],  # the estimator's own knobs, such as LASSO's max_iter
        )
    if summary := rows.log.summary(rows.n_rows):
        print(f"{args.section}: {summary}", file=sys.stderr)
    edge = grid_edge(result)
    if edge:
        print(
            f"{args.section}: warning: {edge.replace('alpha_grid', args.section + '.alpha_grid')}",
            file=sys.stderr,
        )
    if stopped := unconverged(result):
        stopped = stopped.replace("estimator.", f"{args.section}.estimator.")
        print(f"{args.section}: warning: {stopped}", file=sys.stderr)
    save_model(result.model, args.out_model)
    write_report(train_report(result), args.out_metrics)
    if args.out_curve:
        write_table(validation_curve(result), args.out_curve)
    if args.out_path:
        write_table(coefficient_path(result), args.out_path)


if __name__ == "__main__":
    run(main)
