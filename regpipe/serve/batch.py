"""Batch prediction: a CSV/Parquet file scored with the served model and the same validation."""

from pathlib import Path

from regpipe.io import read_table, write_table
from regpipe.params import Serve
from regpipe.serve.loading import load_served_model
from regpipe.serve.schema import InputError


def predict_file(settings: Serve, source: Path, destination: Path, repo: Path = Path(".")) -> str:
    """Score a CSV/Parquet table with the served model and the service's validation.

    The output is the input table plus ``prediction`` and ``model_version`` columns.
    """
    served = load_served_model(settings, repo)
    frame = read_table(source)
    try:
        X = served.validator.validate(frame.to_dict("records"), max_batch=None, row_label="row")
    except InputError as error:
        raise InputError(f"{source}: {error.args[0]}", error.errors) from None
    y = served.predict(X)
    write_table(frame.assign(prediction=y, model_version=served.version), destination)
    return served.version
