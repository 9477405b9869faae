"""drift: compare the current batch with the training split, column by column."""

import argparse

from regpipe.drift import dataset_verdict, ks_drift
from regpipe.errors import run
from regpipe.io import read_json, read_table, write_json
from regpipe.params import load_params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--train", required=True)
    parser.add_argument("--stats", required=True)
    parser.add_argument("--current", required=True)
    parser.add_argument("--out-metrics", required=True)
    args = parser.parse_args()

    params = load_params("drift")
    target = load_params("prepare").target
    features = [column for column in read_json(args.stats) if column != target]
    columns = ks_drift(
        read_table(args.train), read_table(args.current), features, p_value=params.p_value
    )
    report = {
        "columns": columns,
        "dataset": dataset_verdict(columns, drift_share=params.drift_share),
    }
    write_json(report, args.out_metrics)
    print(
        f"drift: {report['dataset']['n_drifted']}/{len(columns)} columns drifted "
        f"{report['dataset']['drifted_columns']}; dataset drift: {report['dataset']['drift']}"
    )


if __name__ == "__main__":
    run(main)
