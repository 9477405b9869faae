"""prepare: enforce the data contract, split train/test, impute, record the training statistics.

The raw table is read ``prepare.chunk_rows`` rows at a time (and one column at a time where an
exact whole-column figure needs it), so memory is bounded by a few chunks plus a few bytes a
row, whatever the table's size; the outputs are the ones the whole table in memory gives.
"""

from regpipe.errors import quiet_interrupts, run

quiet_interrupts()  # first: a Ctrl-C while the libraries below load prints no traceback

import argparse
import sys
from pathlib import Path

from regpipe.contract import (
    ContractError,
    feature_names,
    fixed_chunks,
    imputation_value,
    impute,
    infer_contract,
    judge,
    leave_out_columns,
    read_contract,
    training_statistics,
    write_contract,
)
from regpipe.data import split_permutation
from regpipe.io import describe_table, write_json
from regpipe.params import load_params
from regpipe.progress import SHOW_AFTER_S, PassLog
from regpipe.tables import ShuffledSplit, Table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", required=True)
    parser.add_argument("--contract", required=True, type=Path, help="read, or inferred if absent")
    parser.add_argument("--out-train", required=True, type=Path)
    parser.add_argument("--out-test", required=True, type=Path)
    parser.add_argument("--out-stats", required=True)
    parser.add_argument("--out-quality", required=True)
    args = parser.parse_args()

    params = load_params("prepare")
    table = Table(args.data, params.chunk_rows)
    log = PassLog()  # the passes over chunks: a bar each when long, one summary line at the end
    inferred = not args.contract.exists()
    # An existing contract already says what the features are: ids are looked for only when
    # inferring one.
    table, left_out = leave_out_columns(
        table,
        drop_columns=params.drop_columns,
        detect_ids=params.detect_ids and inferred,
        target=params.target,
        source=args.data,
    )
    if inferred:
        contract = infer_contract(
            table,
            target=params.target,
            max_missing=params.max_missing,
            max_levels=params.max_levels,
        )
    else:
        contract = read_contract(args.contract, target=params.target)
        for name in params.drop_columns:
            contract["columns"].pop(name, None)
    try:
        checked, report = judge(
            table,
            contract,
            on_violation=params.on_violation.model_dump(),
            min_rows=params.min_rows,
            source=describe_table(args.data),
            max_listed=params.max_listed_violations,
            log=log,
        )
    except ContractError as error:
        write_json(error.report, args.out_quality)
        raise
    report["columns_left_out"] = left_out
    n_rows = report["n_rows_out"]
    permutation, n_test = split_permutation(
        n_rows,
        test_size=params.test_size,
        random_state=params.random_state,
        min_test_rows=params.min_test_rows,
    )
    parts = {"train": permutation[n_test:], "test": permutation[:n_test]}
    with ShuffledSplit(
        parts, n_rows, bucket_rows=params.chunk_rows, folder=args.out_train.parent
    ) as split:
        del permutation, parts  # the split keeps a byte a row: 4 bytes a row go here
        start = 0
        for chunk in fixed_chunks(table, contract, checked, log=log):
            split.add(chunk, start)
            start += len(chunk)
        # statistics before imputing (true missing counts), from the training split only
        statistics, fill = {}, {}
        by_column = PassLog("column")  # one column of the training split at a time
        for name in by_column.track(checked.columns, len(checked.columns), "training statistics"):
            column = split.column("train", name)
            statistics.update(training_statistics(column.to_frame(), contract))
            if name != contract["target"]:
                fill[name] = imputation_value(column, contract["columns"][name])
            del column  # the next column is read without this one in memory
        fill = {name: fill[name] for name in feature_names(contract)}
        imputed = {}
        for part, path in (("train", args.out_train), ("test", args.out_test)):
            counts = dict.fromkeys(fill, 0)

            def impute_counting(frame, counts=counts):  # noqa: ANN001, ANN202
                frame, found = impute(frame, fill)
                for name, count in found.items():
                    counts[name] += count
                return frame

            split.write(part, path, impute_counting, log)
            imputed[part] = {name: count for name, count in counts.items() if count}
        report["fixes"]["imputed"] = imputed
        if inferred:
            write_contract(contract, args.contract)
            print(f"prepare: inferred the data contract from {args.data}; commit {args.contract}")
        split.commit()
    write_json(statistics, args.out_stats)
    write_json(report, args.out_quality)
    seconds = log.seconds + by_column.seconds
    if seconds >= SHOW_AFTER_S:  # long passes only: Diabetes (one chunk) stays quiet
        print(
            f"prepare: {report['n_rows_in']:,} rows checked in {table.n_chunks} chunks of "
            f"{params.chunk_rows:,}, {n_rows:,} kept: {split.sizes['train']:,} train, "
            f"{split.sizes['test']:,} test; {log.passes + 1} passes in {seconds:.0f} s",
            file=sys.stderr,
        )


if __name__ == "__main__":
    run(main)
