"""The prediction log: the one definition of its format, written by the service, read by drift.

One JSON object per predicted record, so a batch request of n records writes n lines::

    {"timestamp": "2026-11-23T09:00:00.123456+00:00", "model_version": "v1.0.0",
     "inputs": {"age": 0.03, ...}, "prediction": 151.2}

The file is rotated by size as logging's RotatingFileHandler names the files (``path.1`` ..
``path.N``, oldest last). :func:`read_prediction_log` turns it, rotated files included, into the
frame the drift stage takes as its current batch (``drift.current: logs/predictions.jsonl``); it
also reads hand-made logs: a list of requests on one line, or a request whose ``inputs`` is a list.
A write that fails (disk full) is cut back so no partial line remains, and is never silent.
"""

import json
import os
import threading
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pandas as pd

from regpipe.errors import UserError

LOG_METADATA = ("prediction", "model_version", "timestamp")  # kept beside one record's inputs


def rotated_file(path: Path, number: int) -> Path:
    """The ``number``-th older file of the log at ``path`` (1 is the newest rotated one)."""
    return Path(f"{path}.{number}")


def log_lines(model_version: str, records: list[dict], predictions: list[float]) -> list[str]:
    """The log's lines for one request: each record's inputs with its prediction."""
    timestamp = datetime.now(UTC).isoformat()
    return [
        orjson.dumps(
            {
                "timestamp": timestamp,
                "model_version": model_version,
                "inputs": inputs,
                "prediction": prediction,
            }
        ).decode()
        for inputs, prediction in zip(records, predictions, strict=True)
    ]


class LogWriteError(UserError):
    """A request's predictions could not all be written to the prediction log."""


class PredictionLog:
    """The JSON-lines prediction log, rotated by size as logging's RotatingFileHandler names the
    files (path.1 .. path.N, oldest last), one append per request.

    A write that fails part-way (disk full, file size limit) is cut back to where it began, so the
    log holds only whole lines, and raises :class:`LogWriteError`; ``failures`` counts them.
    """

    def __init__(self, path: Path, *, max_bytes: int, backups: int):
        self.path, self.max_bytes, self.backups = path, max_bytes, backups
        self.failures = 0
        self.last_error: str | None = None
        self.failing = False
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            os.close(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666))
        except OSError as error:
            raise UserError(f"{path}: cannot open the prediction log: {error.strerror}") from None

    def _rotate(self) -> None:
        for number in range(self.backups - 1, 0, -1):
            older = rotated_file(self.path, number)
            if older.exists():
                os.replace(older, rotated_file(self.path, number + 1))
        os.replace(self.path, rotated_file(self.path, 1))

    def _append(self, data: bytes) -> None:
        with suppress(FileNotFoundError):
            size = self.path.stat().st_size
            if size and size + len(data) > self.max_bytes:
                self._rotate()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            start = os.fstat(fd).st_size
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            except OSError:
                os.ftruncate(fd, start)  # no partial line is left for the drift reader
                raise
        finally:
            os.close(fd)

    def write(self, model_version: str, records: list[dict], predictions: list[float]) -> None:
        """Append one line per record (the served model's inputs) and its prediction."""
        lines = log_lines(model_version, records, predictions)
        data = ("\n".join(lines) + "\n").encode()
        with self._lock:
            try:
                self._append(data)
            except OSError as error:
                self.failures += 1
                self.failing = True
                self.last_error = f"{self.path}: {error.strerror or error}"
                raise LogWriteError(
                    f"the prediction log failed ({self.last_error}): {len(lines)} predictions "
                    "not logged"
                ) from None
            self.failing = False

    def health(self) -> dict:
        """What /health says about the log: failed writes since start, and whether the last did."""
        return {
            "log_failures": self.failures,
            "log_failing": self.failing,
            "log_error": self.last_error,
        }


def _log_records(line: str, path: Path, number: int) -> list[dict]:
    """The input records in one request-log line: one request, a batch list, or batch inputs.

    A request with one record (what :func:`log_lines` writes) also keeps its prediction, model
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


def read_prediction_log(path: str | Path) -> pd.DataFrame:
    """The prediction service's JSON-lines request log as one row per predicted record.

    Size-rotated files beside it (``path.N`` ... ``path.1``, as logging's RotatingFileHandler
    names them) are read first, so the rows come oldest first. A file's last line that was cut
    (no newline, not valid JSON: a write interrupted by a full disk) is skipped and named in the
    frame's ``attrs["damaged_lines"]``; a damaged line anywhere else is an error.
    """
    path = Path(path)
    rotated = [p for p in path.parent.glob(f"{path.name}.*") if p.suffix[1:].isdigit()]
    files = [*sorted(rotated, key=lambda p: -int(p.suffix[1:])), path]  # path.N first: oldest
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
