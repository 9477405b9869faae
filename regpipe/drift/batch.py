"""Reading the current batch: a CSV/Parquet table, or the prediction service's request log."""

from pathlib import Path

import pandas as pd

from regpipe.prediction_log import read_prediction_log

REQUEST_LOG_SUFFIXES = (".jsonl", ".ndjson", ".log")


def read_request_log(path: str | Path) -> pd.DataFrame:
    """The prediction service's log as one row per predicted record (regpipe.prediction_log)."""
    return read_prediction_log(path)


def read_current(path: str | Path) -> pd.DataFrame:
    """The current batch: a CSV/Parquet table, or the service's request log (.jsonl)."""
    from regpipe.io import read_table

    path = Path(path)
    if path.suffix in REQUEST_LOG_SUFFIXES:
        return read_request_log(path)
    return read_table(path)
