"""evaluate: test metrics of the three models and the baseline, the champion, the plot data."""

import argparse

from regpipe.errors import run
from regpipe.evaluation import evaluate, plot_sample, predict_all
from regpipe.io import load_model, read_table, write_json, write_table
from regpipe.models import MODEL_NAMES
from regpipe.params import load_params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--train", required=True)
    parser.add_argument("--test", required=True)
    parser.add_argument("--models-dir", required=True)
    parser.add_argument("--out-metrics", required=True)
    parser.add_argument("--out-predictions-plot", required=True)
    args = parser.parse_args()

    params = load_params("evaluate")
    target = load_params("prepare").target
    train, test = read_table(args.train), read_table(args.test)
    X_test, y_test = test.drop(columns=target), test[target]
    models = {name: load_model(f"{args.models_dir}/{name}.joblib") for name in MODEL_NAMES}

    predictions = predict_all(models, X_test, train_target_mean=float(train[target].mean()))
    write_json(evaluate(predictions, y_test, list(MODEL_NAMES)), args.out_metrics)
    write_table(
        plot_sample(predictions, y_test, max_points=params.plot_max_points),
        args.out_predictions_plot,
    )


if __name__ == "__main__":
    run(main)
