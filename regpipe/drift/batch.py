"""Reading the current batch: a CSV/Parquet table, or the prediction service's request log."""

import json
from pathlib import Path

import pandas as pd

from regpipe.errors import UserError

REQUEST_LOG_SUFFIXES = (".jsonl", ".ndjson", ".log")
LOG_METADATA = ("prediction", "model_version", "timestamp")  # kept beside one record's inputs


def _log_records(line: str, path: Path, number: int) -> list[dict]:
    """The input records in one request-log line: one request, a batch list, or batch inputs.

    A request with one record (what regpipe.serve writes) also keeps its prediction, model
    version and timestamp as columns; the drift tests only read the reference's columns.
    """
    try:
        entry = json.loads(line)
    except json.JSONDecodeError as error:
        raise UserError(f"{path}:{number}: not valid JSON: {error.msg}") from None
    records = []
    for request in entry if isinstance(entry, list) else [entry]:
        inputs = request.get("inputs") if isinstance(request, dict) else None
        rows = inputs if isinstance(inputs, list) else [inputs]
        if not rows or not all(isinstance(row, dict) for row in rows):
            raise UserError(
                f"{path}:{number}: expected a request object with an 'inputs' mapping of "
                '{feature: value} (or a list of them), e.g. {"timestamp": ..., '
                '"model_version": ..., "inputs": {"bmi": 0.06}, "prediction": 151.0}'
            )
        if isinstance(inputs, dict):
            rows = [{**inputs, **{key: request[key] for key in LOG_METADATA if key in request}}]
        records.extend(rows)
    return records


def read_request_log(path: str | Path) -> pd.DataFrame:
    """The prediction service's JSON-lines request log as one row per predicted record.

    Size-rotated files beside it (``path.N`` ... ``path.1``, as logging's RotatingFileHandler
    names them) are read first, so the rows come oldest first. A file's last line that was cut
    (no newline, not valid JSON: a write interrupted by a full disk) is skipped and named in the
    frame's ``attrs["damaged_lines"]``; a damaged line anywhere else is an error.
    """
    path = Path(path)
    rotated = [p for p in path.parent.glob(f"{path.name}.*") if p.suffix[1:].isdigit()]
    files = [*sorted(rotated, key=lambda p: -int(p.suffix[1:])), path]
    if not path.is_file():
        raise UserError(f"{path}: request log not found")
    records: list[dict] = []
    damaged: list[str] = []
    for file in files:
        lines = file.read_bytes().split(b"\n")
        last = len(lines)  # the bytes after the final newline: none unless the last write was cut
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                try:
                    text = line.decode("utf-8")
                except UnicodeDecodeError as error:
                    raise UserError(f"{file}:{number}: not UTF-8 text: {error.reason}") from None
                records.extend(_log_records(text, file, number))
            except UserError:
                if number != last:
                    raise
                damaged.append(f"{file}:{number}")
    frame = pd.DataFrame.from_records(records)
    frame.attrs["damaged_lines"] = damaged
    return frame


def read_current(path: str | Path) -> pd.DataFrame:
    """The current batch: a CSV/Parquet table, or the service's request log (.jsonl)."""
    from regpipe.io import read_table

    path = Path(path)
    if path.suffix in REQUEST_LOG_SUFFIXES:
        return read_request_log(path)
    return read_table(path)
