"""A reference too long to hold: exact counts from one pass over its chunks, and a sample.

When the training split has more rows than ``drift.reference_sample.rows``, the drift stage
reads it once, chunk by chunk, and keeps per column what the tests need:

- exact: the row, missing and value counts (``n_reference``, ``missing_reference``), the
  minimum and maximum (the range check), whether every value is whole, every level and its
  count while a column has at most :data:`MAX_NUMERIC_LEVELS` numeric values or
  :data:`MAX_LABELS` labels (chi-square, z-test, Jensen-Shannon over levels, the number of
  distinct values), and the reference's counts below and at each value of the current batch,
  from which the KS statistic is exact (:func:`~regpipe.drift.statistics.ks_counts`);
- a seeded uniform sample of rows (:func:`sample_positions`) for what needs the whole
  distribution: Wasserstein, Jensen-Shannon over equal-width bins, PSI's quantile bins, the
  plot, and level tests on a column with more levels than are counted.

A column with at most ``rows`` finite values (mostly missing) keeps every one of them, so its
tests are the whole reference's, exactly.

Memory: the sample (its rows x the columns x 8 bytes, more for labels), one chunk, the batch,
and the counts above; nothing grows with the reference's row count.
"""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from regpipe.drift.statistics import (
    JS_VALUE_BINS,
    MIN_STD,
    chisquare_counts,
    clean,
    is_numeric,
    jensenshannon,
    ks_counts,
    labels,
    result_fields,
    run_test,
    wasserstein,
    z_counts,
)
from regpipe.io import CHUNK_ROWS, ParquetColumns, read_parquet_chunks
from regpipe.moments import merged_moments
from regpipe.progress import PassLog

MAX_NUMERIC_LEVELS = JS_VALUE_BINS  # more numeric values than this: no test counts levels
MAX_LABELS = 100_000  # labels counted exactly up to this many per column
SAMPLE_BLOCK = 1 << 20  # the sample is drawn block by block of this many positions


def sample_positions(n_rows: int, n_sample: int, random_state: int) -> np.ndarray:
    """``n_sample`` of ``range(n_rows)``, sorted: a uniform draw without replacement.

    How many fall in each block of :data:`SAMPLE_BLOCK` positions is one multivariate
    hypergeometric draw, then each block's are drawn uniformly within it: every subset of
    that size is equally likely, memory is the sample plus one block, and the positions depend
    only on ``n_rows``, ``n_sample`` and ``random_state`` (not on the file's row groups).
    """
    rng = np.random.default_rng(random_state)
    starts = np.arange(0, n_rows, SAMPLE_BLOCK)
    sizes = np.minimum(SAMPLE_BLOCK, n_rows - starts)
    counts = rng.multivariate_hypergeometric(sizes, min(n_sample, n_rows))
    return np.concatenate(
        [
            start + np.sort(rng.choice(size, count, replace=False))
            for start, size, count in zip(starts, sizes, counts, strict=True)
        ]
    )


@dataclass
class SampledColumn:
    """One reference column as the drift tests see it, without its values (module docstring)."""

    name: str
    numeric: bool  # tested as numbers (the reference's dtype, unless the batch has text)
    current: np.ndarray  # the batch's values, as clean() gives them
    n_rows: int = 0
    n_missing: int = 0
    n_values: int = 0  # finite numbers / labels present: what a test counts
    low: float = np.inf  # minimum and maximum of the present values, +-inf included: they
    high: float = -np.inf  # stay +inf and -inf while there is none (np.nanmin would be NaN)
    whole: bool = True
    mean: float = 0.0  # of the finite values, merged over chunks (Chan et al.)...
    squares: float = 0.0  # ...with their sum of squared deviations: the exact std
    level_counts: dict | None = field(default_factory=dict)  # None: too many levels to count
    below: np.ndarray | None = None  # per batch value: reference values < it...
    not_above: np.ndarray | None = None  # ...and <= it (numeric columns)
    sample: np.ndarray | None = None  # clean() of the sampled rows
    keep_up_to: int = 0  # every value is kept while the column has at most this many...
    values: np.ndarray | None = None  # ...as clean() gives them (None: more than that)
    _pieces: list = field(default_factory=list, repr=False)
    _kept: list | None = field(default_factory=list, repr=False)

    def update(self, values: pd.Series, sampled: np.ndarray) -> None:
        """Count one chunk of the column; keep its rows at ``sampled`` (positions in it)."""
        self.n_rows += len(values)
        self.n_missing += int(values.isna().sum())
        if self.numeric:
            numbers = values.to_numpy(dtype=float, na_value=np.nan)
            drawn = numbers[sampled]  # kept as clean() keeps them: finite floats, sorted at the end
            self._pieces.append(drawn[np.isfinite(drawn)])
            present = numbers[~np.isnan(numbers)]
            if len(present):
                self.low, self.high = min(self.low, present.min()), max(self.high, present.max())
            # sorted once: the batch's values are then looked up in the chunk, not the reverse
            finite = np.sort(present[np.isfinite(present)])
            if len(finite):
                mean = finite.mean()
                chunk = (len(finite), mean, float(np.sum((finite - mean) ** 2)))
                _, self.mean, self.squares = merged_moments(
                    (self.n_values, self.mean, self.squares), chunk
                )
            self.whole = self.whole and bool(np.array_equal(finite, np.round(finite)))
            if self.below is None:
                self.below = np.zeros(len(self.current), np.int64)
                self.not_above = np.zeros(len(self.current), np.int64)
            self.below += np.searchsorted(finite, self.current, "left")
            self.not_above += np.searchsorted(finite, self.current, "right")
            if self.level_counts is not None:
                n_levels = np.count_nonzero(finite[1:] != finite[:-1]) + 1 if len(finite) else 0
                self._count_levels(finite, n_levels, MAX_NUMERIC_LEVELS)
        else:
            self._pieces.append(values.iloc[sampled])
            finite = labels(values)
            if self.level_counts is not None:
                self._count_levels(finite, None, MAX_LABELS)
        self.n_values += len(finite)
        if self._kept is not None and self.n_values <= self.keep_up_to:
            self._kept.append(finite)
        else:
            self._kept = None

    def _count_levels(self, values: np.ndarray, n_levels: int | None, limit: int) -> None:
        if n_levels is not None and n_levels > limit:
            self.level_counts = None
            return
        for level, count in pd.Series(values).value_counts(sort=False).items():
            self.level_counts[level] = self.level_counts.get(level, 0) + int(count)
        if len(self.level_counts) > limit:
            self.level_counts = None

    def finish(self) -> "SampledColumn":
        if self.numeric:
            self.sample = np.concatenate(self._pieces)
            self.sample.sort()
        else:
            self.sample = clean(pd.concat(self._pieces, ignore_index=True), numeric=False)
        if self._kept is not None:
            empty = np.array([], dtype=float if self.numeric else object)
            self.values = np.concatenate([empty, *self._kept])
            if self.numeric:
                self.values.sort()
        self._pieces, self._kept = [], []
        return self

    def distribution(self) -> np.ndarray:
        """The values that stand for the column's distribution: every one when it kept them
        (a mostly missing column, whose sample may hold none), else the sample."""
        return self.sample if self.values is None else self.values

    def std(self) -> float:
        """Standard deviation (ddof 0, as ``np.std``) of the finite values."""
        return float(np.sqrt(self.squares / self.n_values)) if self.n_values else 0.0

    def levels(self) -> tuple[np.ndarray, np.ndarray]:
        """Every level counted (sorted, as ``level_counts`` orders them) and its count."""
        levels = sorted(self.level_counts)
        counts = np.array([self.level_counts[level] for level in levels], dtype=np.int64)
        return np.array(levels, dtype=float if self.numeric else object), counts


class SampledReference:
    """The reference table as :func:`~regpipe.drift.verdicts.data_drift` reads it: columns,
    row count, and a :class:`SampledColumn` per column."""

    def __init__(self, columns: dict[str, SampledColumn], n_rows: int) -> None:
        self._columns, self._n_rows = columns, n_rows
        self.columns = pd.Index(list(columns))

    def __len__(self) -> int:
        return self._n_rows

    def __getitem__(self, column: str) -> SampledColumn:
        return self._columns[column]


def tested_as_numeric(reference: pd.Series, current: pd.Series | None) -> bool:
    """A numeric reference column is tested as numbers unless the batch has text in it."""
    return is_numeric(reference) and (
        current is None or current.notna().sum() == 0 or is_numeric(current)
    )


def summarise_reference(
    chunks: Iterable[pd.DataFrame],
    n_rows: int,
    current: pd.DataFrame,
    *,
    sample_rows: int,
    random_state: int,
) -> SampledReference:
    """One pass over the reference's ``chunks`` (``n_rows`` rows in all, in order): the exact
    counts and the sample of ``sample_rows`` rows of every column (module docstring)."""
    positions = sample_positions(n_rows, sample_rows, random_state)
    columns: dict[str, SampledColumn] = {}
    start = 0
    for chunk in chunks:
        first, last = np.searchsorted(positions, [start, start + len(chunk)])
        sampled = positions[first:last] - start
        for name, values in chunk.items():
            if name not in columns:
                batch = current[name] if name in current.columns else None
                numeric = tested_as_numeric(values, batch)
                cleaned = clean(batch, numeric) if batch is not None else np.array([])
                columns[name] = SampledColumn(name, numeric, cleaned, keep_up_to=sample_rows)
            columns[name].update(values, sampled)
        start += len(chunk)
    return SampledReference({name: column.finish() for name, column in columns.items()}, start)


def chunked(frame: pd.DataFrame, rows: int) -> Iterator[pd.DataFrame]:
    """An in-memory reference as chunks, for :func:`summarise_reference`."""
    for start in range(0, len(frame), rows):
        yield frame.iloc[start : start + rows]


def summarised(
    reference: pd.DataFrame | ParquetColumns,
    current: pd.DataFrame,
    columns: list[str],
    *,
    rows: int,
    random_state: int,
    chunk_rows: int = CHUNK_ROWS,
) -> pd.DataFrame | ParquetColumns | SampledReference:
    """The reference as the drift tests read it: itself up to ``rows`` rows (every statistic
    exact, as always), else :func:`summarise_reference` of ``columns`` read ``chunk_rows`` at a
    time (a Parquet file one batch at a time across its row groups)."""
    if len(reference) <= rows:
        return reference
    if isinstance(reference, pd.DataFrame):
        chunks = chunked(reference[columns], chunk_rows)
    else:
        chunks = read_parquet_chunks(reference.path, chunk_rows, columns=columns)
    passes = PassLog()
    chunks = passes.track(chunks, -(-len(reference) // chunk_rows), "summarising the reference")
    return summarise_reference(
        chunks, len(reference), current, sample_rows=rows, random_state=random_state
    )


def sampled_distinct(column: SampledColumn, current: np.ndarray) -> int:
    """Distinct values over the reference and the batch: exact while the reference's levels
    are counted, else a lower bound above every threshold a choice of test uses."""
    if column.level_counts is None:
        return max(len(column.level_counts or ()) + MAX_NUMERIC_LEVELS + 1, len(set(current)))
    return len(set(column.level_counts) | set(current.tolist()))


def level_table(column: SampledColumn, current: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Counts per level on both sides over the union of their levels, as
    :func:`~regpipe.drift.statistics.level_counts` gives them from the values."""
    ref_levels, ref_counts = column.levels()
    cur_levels, cur_counts = np.unique(current, return_counts=True)
    levels = np.union1d(ref_levels, cur_levels) if len(ref_levels) else cur_levels
    ref, cur = np.zeros(len(levels), np.int64), np.zeros(len(levels), np.int64)
    ref[np.searchsorted(levels, ref_levels)] = ref_counts
    cur[np.searchsorted(levels, cur_levels)] = cur_counts
    return ref, cur


def sampled_test(
    test: str, column: SampledColumn, current: np.ndarray, *, threshold: float
) -> dict:
    """:func:`~regpipe.drift.statistics.run_test` on a summarised reference: exact from the
    counts where they suffice (KS; chi-square, z and Jensen-Shannon over counted levels),
    on the sample otherwise."""
    if test == "ks":
        statistic, p_value = ks_counts(column.below, column.not_above, column.n_values, current)
        return result_fields(statistic, p_value, None, threshold, p_value <= threshold)
    if test == "wasserstein":  # the sample's distance over the exact std
        distance = wasserstein(column.sample, current) / max(column.std(), MIN_STD)
        return result_fields(distance, None, distance, threshold, distance >= threshold)
    if column.level_counts is not None and test in ("chisquare", "z", "jensenshannon"):
        ref, cur = level_table(column, current)
        if test == "jensenshannon":
            distance = jensenshannon(ref / ref.sum(), cur / cur.sum())
            return result_fields(distance, None, distance, threshold, distance >= threshold)
        if test == "chisquare":
            statistic, p_value = chisquare_counts(ref, cur)
        else:
            statistic, p_value = z_counts((ref[0], cur[0]), (column.n_values, len(current)))
        return result_fields(statistic, p_value, None, threshold, p_value < threshold)
    return run_test(test, column.sample, current, numeric=column.numeric, threshold=threshold)
