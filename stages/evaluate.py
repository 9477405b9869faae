"""evaluate: test metrics, the champion and its quality gate, the model card, the plot data."""

from regpipe.errors import UserError, quiet_interrupts, run

quiet_interrupts()  # first: a Ctrl-C while the libraries below load prints no traceback

import argparse
import shutil
import sys
from functools import partial
from pathlib import Path

# Before pandas: importing skops.io looks each scipy.special ufunc up in every module loaded
# before scipy.special, ~0.6 s of CPU when pandas and pyarrow come first (regpipe.io._skops_io).
import scipy.special  # noqa: F401

from regpipe.engine import open_engine
from regpipe.evaluation import (
    BASELINE,
    design,
    evaluate,
    model_card,
    model_card_markdown,
    quality_gate,
    refit_metrics,
    residual_sample,
    score_rows,
    target_mean,
)
from regpipe.io import (
    atomic_path,
    load_model,
    locked_md5,
    parquet_num_rows,
    save_safe_model,
    sha256_file,
    write_table,
)
from regpipe.models import MODEL_NAMES, make_folds, parquet_rows
from regpipe.params import load_params
from regpipe.reports import Evaluation, TrainMetrics, read_report, write_report


def named_paths(values: list[str], flag: str) -> dict[str, str]:
    """``NAME=PATH`` flags as {NAME: PATH} for exactly the models of MODEL_NAMES, in that order."""
    pairs = dict(value.partition("=")[::2] for value in values)
    if sorted(pairs) != sorted(MODEL_NAMES) or not all(pairs.values()):
        raise UserError(f"{flag}: give NAME=PATH once for each of {', '.join(MODEL_NAMES)}")
    return {name: pairs[name] for name in MODEL_NAMES}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--train", required=True)
    parser.add_argument("--test", required=True)
    parser.add_argument("--model", required=True, action="append", help="NAME=PATH, per model")
    parser.add_argument(
        "--train-metrics", required=True, action="append", help="NAME=PATH, per model"
    )
    parser.add_argument("--out-metrics", required=True)
    parser.add_argument("--out-champion", required=True)
    parser.add_argument("--out-safe-champion", required=True, help="skops: the form served")
    parser.add_argument("--out-card", required=True, type=Path, help="JSON; Markdown beside it")
    parser.add_argument("--out-predictions-plot", required=True)
    parser.add_argument("--out-residuals-plot", required=True)
    args = parser.parse_args()

    params = load_params("evaluate")
    target = load_params("prepare").target
    parquet_num_rows(args.test)  # a missing file is named before anything is read
    paths = named_paths(args.model, "--model")
    train_metrics = named_paths(args.train_metrics, "--train-metrics")
    # A model file is unpickled only if it is the one DVC recorded for its train stage.
    models = {name: load_model(path, md5=locked_md5(path)) for name, path in paths.items()}

    with open_engine(load_params("engine")) as client:
        # Both splits are read in chunks, encoded once for all models; each pass holds a chunk.
        train_rows = parquet_rows(args.train, target, partial(design, models), client)
        test_rows = parquet_rows(args.test, target, partial(design, models), client)
        metrics, sample = score_rows(
            {name: model[1:] for name, model in models.items()},  # they take the encoded X
            test_rows,
            baseline=target_mean(train_rows),
            max_points=params.plot_max_points,
        )
        scores = evaluate(metrics, list(MODEL_NAMES))
        champion = scores["champion"]
        gate = quality_gate(scores["models"], champion, **params.gate.model_dump())
        folds = make_folds(**params.cv.model_dump(), n_rows=train_rows.n_rows, key="evaluate.cv")
        refits = refit_metrics(
            models,
            train_rows,
            test_rows,
            cv=folds,
            n_bootstrap=params.n_bootstrap,
            random_state=params.random_state,
        )
    if summary := train_rows.log.summary(train_rows.n_rows):
        print(f"evaluate: {summary}", file=sys.stderr)
    report = Evaluation.model_validate({**scores, "gate": gate, **refits})
    if report.cv[BASELINE].r2 is None:  # said once here, not once per fold
        print(
            f"evaluate: CV R² not reported: {train_rows.n_rows} training rows in "
            f"{folds.n_splits} folds leave a validation fold of 1 row (lower evaluate.cv.n_splits)",
            file=sys.stderr,
        )

    with atomic_path(args.out_champion) as tmp:
        shutil.copyfile(paths[champion], tmp)
    save_safe_model(models[champion], args.out_safe_champion)
    card = model_card(
        champion=champion,
        sha256=sha256_file(args.out_champion),
        skops_sha256=sha256_file(args.out_safe_champion),
        evaluation=report,
        training=read_report(TrainMetrics, train_metrics[champion]),
        data_sha256={"train": sha256_file(args.train), "test": sha256_file(args.test)},
    )
    write_report(report, args.out_metrics)
    write_report(card, args.out_card)
    with atomic_path(args.out_card.with_suffix(".md")) as tmp:
        tmp.write_text(model_card_markdown(card))
    write_table(sample, args.out_predictions_plot)
    write_table(residual_sample(sample), args.out_residuals_plot)
    verdict = "passed" if report.gate.passed else "FAILED"
    print(f"champion: {champion}; quality gate {verdict} {report.gate.reasons or ''}")


if __name__ == "__main__":
    run(main)
