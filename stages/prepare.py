"""prepare: check the data contract, split train/test, record the training statistics."""

import argparse

from regpipe.contract import check_contract, training_statistics
from regpipe.data import split_train_test
from regpipe.errors import run
from regpipe.io import read_table, write_json, write_table
from regpipe.params import load_params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", required=True)
    parser.add_argument("--out-train", required=True)
    parser.add_argument("--out-test", required=True)
    parser.add_argument("--out-stats", required=True)
    args = parser.parse_args()

    params = load_params("prepare")
    frame = check_contract(
        read_table(args.data), features=params.features, target=params.target, source=args.data
    )
    train, test = split_train_test(
        frame, test_size=params.test_size, random_state=params.random_state
    )
    write_table(train, args.out_train)
    write_table(test, args.out_test)
    write_json(training_statistics(train), args.out_stats)


if __name__ == "__main__":
    run(main)
