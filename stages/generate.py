"""generate: write the raw dataset and the production-like "current" batch."""

import argparse

from regpipe.current import make_current_batch
from regpipe.data import load_diabetes_frame
from regpipe.errors import run
from regpipe.io import write_table
from regpipe.params import load_params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out-data", required=True)
    parser.add_argument("--out-current", required=True)
    args = parser.parse_args()

    params = load_params("generate")
    frame = load_diabetes_frame()
    current = make_current_batch(
        frame, random_state=params.random_state, **params.current.model_dump()
    )
    write_table(frame, args.out_data)
    write_table(current, args.out_current)


if __name__ == "__main__":
    run(main)
