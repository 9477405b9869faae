"""prepare: enforce the data contract, split train/test, impute, record the training statistics."""

import argparse
from pathlib import Path

from regpipe.contract import (
    ContractError,
    enforce_contract,
    impute_splits,
    infer_contract,
    leave_out_columns,
    read_contract,
    training_statistics,
    write_contract,
)
from regpipe.data import split_train_test
from regpipe.errors import run
from regpipe.io import describe_table, read_table, write_json, write_table
from regpipe.params import load_params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", required=True)
    parser.add_argument("--contract", required=True, type=Path, help="read, or inferred if absent")
    parser.add_argument("--out-train", required=True)
    parser.add_argument("--out-test", required=True)
    parser.add_argument("--out-stats", required=True)
    parser.add_argument("--out-quality", required=True)
    args = parser.parse_args()

    params = load_params("prepare")
    frame = read_table(args.data)
    inferred = not args.contract.exists()
    # An existing contract already says what the features are: ids are looked for only when
    # inferring one.
    frame, left_out = leave_out_columns(
        frame,
        drop_columns=params.drop_columns,
        detect_ids=params.detect_ids and inferred,
        target=params.target,
        source=args.data,
    )
    if inferred:
        contract = infer_contract(
            frame,
            target=params.target,
            max_missing=params.max_missing,
            max_levels=params.max_levels,
        )
    else:
        contract = read_contract(args.contract, target=params.target)
        for name in params.drop_columns:
            contract["columns"].pop(name, None)
    try:
        frame, report = enforce_contract(
            frame,
            contract,
            on_violation=params.on_violation.model_dump(),
            min_rows=params.min_rows,
            source=describe_table(args.data),
            max_listed=params.max_listed_violations,
        )
    except ContractError as error:
        write_json(error.report, args.out_quality)
        raise
    report["columns_left_out"] = left_out
    train, test = split_train_test(
        frame,
        test_size=params.test_size,
        random_state=params.random_state,
        min_test_rows=params.min_test_rows,
    )
    del frame  # at 10M rows, one copy fewer at the peak
    statistics = training_statistics(train, contract)  # before imputing: true missing counts
    train, test, report["fixes"]["imputed"] = impute_splits(train, test, contract)
    if inferred:
        write_contract(contract, args.contract)
        print(f"prepare: inferred the data contract from {args.data}; commit {args.contract}")
    write_table(train, args.out_train)
    write_table(test, args.out_test)
    write_json(statistics, args.out_stats)
    write_json(report, args.out_quality)


if __name__ == "__main__":
    run(main)
