"""Progress of the passes over the training data, on stderr, for long work only.

A pass over many chunks (Parquet row groups, or Dask partitions) gets a tqdm bar once it has run
:data:`SHOW_AFTER_S` seconds, and a stage whose passes took that long ends with one summary
line; a pass over one chunk (all of Diabetes) or a short one shows nothing.
"""

import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

SHOW_AFTER_S = 2.0

T = TypeVar("T")


@dataclass
class PassLog:
    """The passes made over one table: how many, over how many rows, in how long."""

    unit: str = "chunk"  # what one step of a pass is: a chunk read here, a Dask partition
    passes: int = 0
    steps: int = 0  # of the last pass
    seconds: float = 0.0

    def track(self, steps: Iterable[T], total: int, what: str) -> Iterator[T]:
        """``steps`` (one pass), with a bar named ``what`` if the pass is long, counted when it
        ends."""
        start = time.perf_counter()
        if total > 1:
            from tqdm import tqdm

            steps = tqdm(
                steps,
                total=total,
                desc=what,
                unit=self.unit,
                delay=SHOW_AFTER_S,
                leave=False,
                file=sys.stderr,
            )
        yield from steps
        self.passes += 1
        self.steps = total
        self.seconds += time.perf_counter() - start

    def summary(self, n_rows: int) -> str | None:
        """One line on the passes made, or None if they were short."""
        if self.seconds < SHOW_AFTER_S:
            return None
        passes = f"{self.passes} pass{'es' if self.passes > 1 else ''}"
        return f"{passes} over {n_rows:,} rows in {self.steps} {self.unit}s, {self.seconds:.1f} s"
