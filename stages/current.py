"""current: the production-like batch the drift stage checks, drawn from the test split.

The test split is rows no model trained on, cleaned and imputed exactly as the training split
(the drift reference), so with no scenario in ``generate.current`` the batch differs from the
reference by chance alone and the concept check measures the champion on unseen rows.
"""

from regpipe.errors import quiet_interrupts, run

quiet_interrupts()  # first: a Ctrl-C while the libraries below load prints no traceback

import argparse

from regpipe.current import ParquetRows, make_current_batch
from regpipe.io import read_table, write_table
from regpipe.params import load_params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--test", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    params = load_params("generate")
    # A Parquet split is read only where the batch needs it (its drawn rows), not whole
    test = ParquetRows(args.test) if args.test.endswith(".parquet") else read_table(args.test)
    current = make_current_batch(
        test, random_state=params.random_state, **params.current.model_dump()
    )
    write_table(current, args.out)


if __name__ == "__main__":
    run(main)
