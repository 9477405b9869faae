"""Long passes over the data show a bar and end with one summary line; short ones stay quiet."""

import time

import numpy as np
import pytest

from regpipe import progress
from regpipe.progress import PassLog
from regpipe.search import Rows


def slow(steps: int, seconds: float):
    for step in range(steps):
        time.sleep(seconds)
        yield step


def test_a_long_pass_shows_a_bar_and_a_summary(monkeypatch, capsys) -> None:
    monkeypatch.setattr(progress, "SHOW_AFTER_S", 0.05)
    log = PassLog("partition")
    assert list(log.track(slow(6, 0.03), total=6, what="bootstrap")) == list(range(6))
    assert "bootstrap:" in capsys.readouterr().err  # the bar, named, drawn once the delay passed
    assert list(log.track(slow(2, 0.0), total=2, what="test metrics")) == [0, 1]
    assert log.summary(1_000_000).startswith("2 passes over 1,000,000 rows in 2 partitions, ")


@pytest.mark.parametrize("chunk_rows", [442, 50])  # Diabetes: one chunk; then ten
def test_short_passes_stay_quiet(chunk_rows: int, capsys) -> None:
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(442, 3)), rng.normal(size=442)
    rows = Rows.from_arrays(X, y, chunk_rows=chunk_rows)
    total = rows.reduce(lambda X, y, offset: X.T @ y, "cross products")
    np.testing.assert_allclose(total, X.T @ y)
    assert rows.log.passes == 1
    assert rows.log.summary(rows.n_rows) is None
    assert capsys.readouterr().err == ""
