"""The production-like "current" batch: held-out rows with a drift scenario applied on demand.

Every drift behaviour the drift stage must recognise can be produced from params.yaml
(``generate.current``) and reproduced with ``dvc repro``: a shift by k standard deviations, a
change of scale, moved category proportions, injected missing values, and relabelled targets
(the inputs stay as they were, only the relation between inputs and target moves).
"""

import math
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from regpipe.errors import UserError
from regpipe.io import (
    CHUNK_ROWS,
    ParquetColumns,
    as_whole_file,
    parquet_errors,
    read_parquet_chunks,
    whole_file_casts,
)
from regpipe.moments import merged_moments

PARAM = "generate.current"


class ParquetRows(ParquetColumns):
    """A Parquet test split read only where the batch needs it: the row count and columns from
    the footer (:class:`~regpipe.io.ParquetColumns`), one column at a time in chunks for the
    scenario's statistics, and the drawn rows from the row groups that hold them. Memory: one
    chunk for the draw and the statistics; :meth:`column` (``category_proportions`` only)
    holds that one column whole."""

    def __init__(self, path: str | Path, chunk_rows: int = CHUNK_ROWS) -> None:
        super().__init__(path)
        self.chunk_rows = chunk_rows

    def column_chunks(self, column: str) -> Iterator[pd.Series]:
        for chunk in read_parquet_chunks(self.path, self.chunk_rows, columns=[column]):
            yield chunk[column]

    def column(self, column: str) -> pd.Series:
        return pd.concat(list(self.column_chunks(column)), ignore_index=True)

    def take(self, rows: np.ndarray) -> pd.DataFrame:
        """``rows`` (positions, in this order, repeats allowed) as ``read_table`` gives them."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        wanted, order = np.unique(rows, return_inverse=True)
        pieces = []
        with parquet_errors(self.path), pq.ParquetFile(self.path, pre_buffer=False) as file:
            start = 0
            for group in range(self._metadata.num_row_groups):
                end = start + self._metadata.row_group(group).num_rows
                if np.searchsorted(wanted, start) < np.searchsorted(wanted, end):
                    offset = start
                    for batch in file.iter_batches(self.chunk_rows, row_groups=[group]):
                        first, last = np.searchsorted(wanted, [offset, offset + len(batch)])
                        pieces.append(batch.take(wanted[first:last] - offset))
                        offset += len(batch)
                start = end
            schema, casts = file.schema_arrow, whole_file_casts(self.path)
        frame = pa.Table.from_batches(pieces, schema=schema).to_pandas()
        frame = as_whole_file(frame, casts)
        return frame.iloc[order].reset_index(drop=True)


class FrameRows:
    """An in-memory table behind the interface of :class:`ParquetRows`."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame, self.columns = frame, frame.columns

    def __len__(self) -> int:
        return len(self.frame)

    def column_chunks(self, column: str) -> Iterator[pd.Series]:
        yield self.frame[column]

    def column(self, column: str) -> pd.Series:
        return self.frame[column]

    def take(self, rows: np.ndarray) -> pd.DataFrame:
        return self.frame.iloc[rows].reset_index(drop=True)


def _check_columns(source: "FrameRows | ParquetRows", key: str, columns: object) -> None:
    unknown = sorted(set(columns) - set(source.columns))
    if unknown:
        raise UserError(
            f"{PARAM}.{key}: unknown column(s) {unknown}; valid: {list(source.columns)}"
        )


def _as_numbers(values: pd.Series) -> pd.Series:
    """``values`` as float64, with text and ±inf as missing: the raw data is not checked yet
    (prepare does that), and one bad cell must not turn the scenario's mean and std into NaN.
    float64, not a pandas nullable dtype (Int64 from ``to_parquet``): its variance of one
    value is pd.NA, not NaN. Whether the column is numeric is :func:`_moments`' check, on
    the whole split: the batch may hold a single row, or one present value of a sparse column."""
    numbers = pd.to_numeric(values, errors="coerce").astype(float)
    return numbers.replace([np.inf, -np.inf], np.nan)


def _moments(source: "FrameRows | ParquetRows", key: str, column: str) -> tuple[float, float]:
    """Mean and standard deviation (ddof 1) of ``column`` as :func:`_as_numbers` reads it, chunk
    by chunk: pandas' own values when the column is one chunk, else the chunks' merged by Chan
    et al.'s update (equal to the one-array figures to rounding, ~1e-15 relative)."""
    count, mean, squares, chunks = 0, 0.0, 0.0, []
    for chunk in source.column_chunks(column):
        values = _as_numbers(chunk)
        n = int(values.notna().sum())
        if n == 0:
            continue
        chunk_mean, variance = float(values.mean()), float(values.var())  # pandas' std: its sqrt
        chunks.append((chunk_mean, math.sqrt(variance) if n > 1 else math.nan))
        count, mean, squares = merged_moments(
            (count, mean, squares), (n, chunk_mean, variance * (n - 1) if n > 1 else 0.0)
        )
    if count < 2:  # one value (a one-row split) is numeric but has no spread
        problem = "not a numeric column" if count == 0 else "one number only, no spread"
        raise UserError(f"{PARAM}.{key}.{column}: {problem}")
    mean, std = chunks[0] if len(chunks) == 1 else (mean, math.sqrt(squares / (count - 1)))
    # a constant column's std is 0 or rounding noise (~1e-17): scaling by it is meaningless
    if std <= 8 * np.finfo(float).eps * abs(mean):
        raise UserError(
            f"{PARAM}.{key}.{column}: the column is constant ({mean:g}); it has no spread to "
            "shift, scale or relabel by"
        )
    return mean, std


def _matching_level(levels: pd.Index, name: str, column: str) -> object:
    """The level of ``column`` that the params key ``name`` denotes (numbers compared loosely)."""
    for level in levels:
        if str(level) == name:
            return level
    try:
        wanted = float(name)
    except ValueError:
        wanted = None
    if wanted is not None and pd.api.types.is_numeric_dtype(levels):
        close = np.isclose(levels.to_numpy(dtype=float), wanted, rtol=1e-3, atol=0)
        if close.sum() == 1:
            return levels[close.argmax()]
    raise UserError(
        f"{PARAM}.category_proportions.{column}: level {name!r} not found; "
        f"levels: {[str(level) for level in levels]}"
    )


def _row_weights(
    frame: pd.DataFrame, category_proportions: Mapping[str, Mapping[str, float]]
) -> np.ndarray | None:
    """Sampling weights per row so each named column's levels reach the requested shares.

    Levels not named (a missing value among them, or named "nan") share what is left in their
    original proportions; rows keep their other columns, so the batch stays realistic (a
    level drawn more often brings its own rows).
    """
    if not category_proportions:
        return None
    weights = np.ones(len(frame))
    for column, proportions in category_proportions.items():
        # by position, not by level: a missing value is a level here, and NaN != NaN as a key
        frequencies = frame[column].value_counts(normalize=True, dropna=False)
        # a categorical's unused categories: no row to draw, so not a level to name
        frequencies = frequencies[frequencies > 0]
        levels, share = frequencies.index, frequencies.to_numpy(dtype=float)
        target = np.full(len(levels), np.nan)
        for name, proportion in proportions.items():
            target[levels.get_loc(_matching_level(levels, str(name), column))] = proportion
        unnamed = np.isnan(target)
        total = target[~unnamed].sum()
        if total > 1 + 1e-9:
            raise UserError(
                f"{PARAM}.category_proportions.{column}: proportions sum to {total:g}; must be <= 1"
            )
        other_mass = share[unnamed].sum()
        target[unnamed] = (1 - total) * share[unnamed] / other_mass if other_mass else 0.0
        weights *= (target / share)[levels.get_indexer(frame[column])]
    if weights.sum() == 0:
        raise UserError(f"{PARAM}.category_proportions: every row has weight 0")
    return weights / weights.sum()


def make_current_batch(
    frame: "pd.DataFrame | ParquetRows",
    *,
    n_samples: int,
    random_state: int,
    shift_sd: Mapping[str, float] | None = None,
    scale: Mapping[str, float] | None = None,
    category_proportions: Mapping[str, Mapping[str, float]] | None = None,
    missing_rate: Mapping[str, float] | None = None,
    relabel: Mapping | None = None,
) -> pd.DataFrame:
    """Rows of ``frame`` (the test split, in memory or a :class:`ParquetRows`), then the drift
    scenario applied.

    The rows drawn depend only on the split's row count and ``random_state`` (and the named
    columns' levels under ``category_proportions``), so a Parquet split is read only where the
    batch needs it: the drawn rows, and one column at a time for the scenario's statistics.

    Without ``category_proportions`` the batch is min(``n_samples``, rows) rows drawn without
    replacement: a row repeated by resampling would be a tie no real batch has, and would make
    the rank tests see drift in a small split. With no scenario the batch comes from the
    training distribution, so the drift stage must stay quiet on it. The scenario, in order:

    - ``category_proportions``: column -> {level: share}; ``n_samples`` rows are drawn with
      replacement so the levels reach these shares.
    - ``shift_sd``: column -> k; the column moves by k of its standard deviations.
    - ``scale``: column -> factor; spread multiplied around the mean (the mean stays).
    - ``relabel``: {"target": name, "slope_sd": {column: k}}; the target gains
      k target-sd per standard deviation of the column, the inputs do not change.
    - ``missing_rate``: column -> share of its values replaced by NaN.
    """
    source = FrameRows(frame) if isinstance(frame, pd.DataFrame) else frame
    shift_sd, scale = shift_sd or {}, scale or {}
    category_proportions, missing_rate = category_proportions or {}, missing_rate or {}
    for key, columns in [
        ("shift_sd", shift_sd),
        ("scale", scale),
        ("category_proportions", category_proportions),
        ("missing_rate", missing_rate),
    ]:
        _check_columns(source, key, columns)
    if relabel:
        _check_columns(source, "relabel.target", [relabel["target"]])
        _check_columns(source, "relabel.slope_sd", relabel["slope_sd"])
    if len(source) == 0:
        raise UserError(f"{PARAM}: the dataset to draw the current batch from is empty")

    rng = np.random.default_rng(random_state)
    # the weights need each named column whole: 8 bytes per row, in this scenario only
    named = pd.DataFrame({column: source.column(column) for column in category_proportions})
    weights = _row_weights(named, category_proportions)
    del named
    if weights is None:
        rows = rng.choice(len(source), size=min(n_samples, len(source)), replace=False)
    else:
        rows = rng.choice(len(source), size=n_samples, replace=True, p=weights)
    batch = source.take(rows)
    for column, k in shift_sd.items():
        std = _moments(source, "shift_sd", column)[1]
        batch[column] = _as_numbers(batch[column]) + k * std
    for column, factor in scale.items():
        mean = _moments(source, "scale", column)[0]
        batch[column] = (_as_numbers(batch[column]) - mean) * factor + mean
    if relabel:
        target = relabel["target"]
        y_std = _moments(source, "relabel.target", target)[1]
        for column, k in relabel["slope_sd"].items():
            mean, std = _moments(source, "relabel.slope_sd", column)
            z = (_as_numbers(batch[column]) - mean) / std
            batch[target] = _as_numbers(batch[target]) + k * y_std * z
    for column, rate in missing_rate.items():
        batch[column] = batch[column].mask(rng.random(len(batch)) < rate)
    return batch
