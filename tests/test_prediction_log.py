"""regpipe.prediction_log: the log's one format, written by the service's writer, read by drift."""

import json
from pathlib import Path

import pandas as pd
import pytest

from regpipe.drift import read_current
from regpipe.errors import UserError
from regpipe.prediction_log import (
    LOG_METADATA,
    PredictionLog,
    log_lines,
    read_prediction_log,
    rotated_file,
)


def test_each_record_is_one_line_with_its_inputs_and_prediction() -> None:
    records = [{"age": 0.5, "sex": "f"}, {"age": -1.0, "sex": "m"}]
    lines = [json.loads(line) for line in log_lines("v1.2.3", records, [10.5, -2.0])]
    assert [line["inputs"] for line in lines] == records
    assert [line["prediction"] for line in lines] == [10.5, -2.0]
    assert {line["model_version"] for line in lines} == {"v1.2.3"}
    assert len({line["timestamp"] for line in lines}) == 1, "one request, one timestamp"
    assert set(lines[0]) == {"inputs", *LOG_METADATA}
    with pytest.raises(ValueError):
        log_lines("v1", records, [1.0])  # a prediction per record, no silent truncation


def test_what_the_writer_rotates_the_reader_reads_back_oldest_first(tmp_path: Path) -> None:
    path = tmp_path / "logs/predictions.jsonl"
    log = PredictionLog(path, max_bytes=1024, backups=3)
    written = [{"x": float(i), "y": f"level {i}"} for i in range(40)]
    for start in range(0, len(written), 4):
        chunk = written[start : start + 4]
        log.write("v0.0.1", chunk, [record["x"] * 2 for record in chunk])
    assert rotated_file(path, 1).is_file() and rotated_file(path, 3).is_file()
    assert not rotated_file(path, 4).exists(), "backups=3 keeps three old files"

    kept = sum(len(p.read_text().splitlines()) for p in path.parent.iterdir())
    frame = read_prediction_log(path)
    assert len(frame) == kept < len(written), "the oldest lines were rotated away"
    expected = pd.DataFrame(written[-kept:])
    pd.testing.assert_frame_equal(frame[["x", "y"]], expected)
    assert frame["prediction"].tolist() == (expected["x"] * 2).tolist()
    assert frame.attrs["damaged_lines"] == []
    # The drift stage takes the same log as its current batch.
    pd.testing.assert_frame_equal(read_current(path), frame)
    assert log.health() == {"log_failures": 0, "log_failing": False, "log_error": None}


def test_a_line_that_is_not_a_request_is_named(tmp_path: Path) -> None:
    path = tmp_path / "predictions.jsonl"
    path.write_text('{"inputs": {"x": 1.0}}\n{"prediction": 3.0}\n{"inputs": {"x": 2.0}}\n')
    with pytest.raises(UserError, match=r"predictions.jsonl:2: expected a request object"):
        read_prediction_log(path)
