"""generate: the raw dataset from the chosen source and its known truth."""

from regpipe.errors import quiet_interrupts, run

quiet_interrupts()  # first: a Ctrl-C while the libraries below load prints no traceback

import argparse
import itertools

from regpipe.data import source_chunks
from regpipe.io import write_json, write_table_chunks
from regpipe.params import load_params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out-data", required=True)
    parser.add_argument("--out-truth", required=True)
    args = parser.parse_args()

    params = load_params("generate")
    target = load_params("prepare").target
    chunks, truth = source_chunks(params, target=target)
    first = next(chunks)
    origin = params.csv.path if params.source == "csv" else None
    n_rows = write_table_chunks(itertools.chain([first], chunks), args.out_data, origin=origin)
    write_json(truth, args.out_truth)
    print(f"generate: {n_rows} rows x {first.shape[1]} columns from source {params.source!r}")


if __name__ == "__main__":
    run(main)
