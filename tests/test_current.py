"""The current batch from a Parquet test split read in row groups: the same batch as from the
split in memory, for every scenario, without reading the split whole."""

import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from regpipe.current import ParquetRows, make_current_batch
from regpipe.errors import UserError
from regpipe.io import ParquetColumns, read_table
from tests.test_drift_reference import penguins_raw

N_ROWS = 3000


def split(n_rows: int = N_ROWS) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "a": rng.normal(size=n_rows),
            "b": 10 + 3 * rng.normal(size=n_rows),
            "count": rng.integers(0, 9, n_rows),
            "color": rng.choice(["red", "green", "blue"], n_rows),
            "y": rng.normal(size=n_rows),
        }
    )
    frame.loc[7, "a"] = np.nan
    return frame


def write_groups(frame: pd.DataFrame, path, row_group_size: int = 700) -> None:
    """Parquet with several row groups, as prepare writes a large split."""
    pq.write_table(
        pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=row_group_size
    )


SCENARIOS = {
    "none": {},
    "missing": {"missing_rate": {"b": 0.3}},
    "proportions": {"category_proportions": {"color": {"red": 0.7}}},
    "shift, scale, relabel": {
        "shift_sd": {"a": 1.0},
        "scale": {"b": 2.0},
        "relabel": {"target": "y", "slope_sd": {"a": -1.0}},
    },
}


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("n_samples", [200, 5000])
def test_parquet_split_gives_the_in_memory_batch(tmp_path, scenario, n_samples) -> None:
    path = tmp_path / "test.parquet"
    write_groups(split(), path)
    assert pq.ParquetFile(path).metadata.num_row_groups == 5
    settings = {"n_samples": n_samples, "random_state": 11, **SCENARIOS[scenario]}
    in_memory = make_current_batch(read_table(path), **settings)
    # chunks smaller than a row group: the statistics merge 10 chunks, the draw reads 5 groups
    chunked = make_current_batch(ParquetRows(path, chunk_rows=300), **settings)
    # the moments merged over chunks equal the one-array figures to rounding, not to the bit
    pd.testing.assert_frame_equal(chunked, in_memory, check_exact=False, rtol=1e-12)
    whole = make_current_batch(ParquetRows(path), **settings)  # one chunk: bit for bit
    pd.testing.assert_frame_equal(whole, in_memory, check_exact=True)


def test_drawn_rows_keep_the_order_of_the_draw(tmp_path) -> None:
    frame = split().assign(position=np.arange(N_ROWS))
    path = tmp_path / "test.parquet"
    write_groups(frame, path)
    rows = np.random.default_rng(0).choice(N_ROWS, size=400, replace=True)
    taken = ParquetRows(path, chunk_rows=256).take(rows)
    assert taken["position"].tolist() == rows.tolist()
    pd.testing.assert_frame_equal(taken, frame.iloc[rows].reset_index(drop=True))


def test_integer_column_with_a_null_anywhere_reads_as_float(tmp_path) -> None:
    """pandas reads an integer column holding a null as float; the drawn rows follow the file
    even when they miss that null, so the CSV the stage writes is the same."""
    path = tmp_path / "test.parquet"
    table = pa.table({"n": pa.array([None] + list(range(1, 2000)), pa.int64())})
    pq.write_table(table, path, row_group_size=500)
    rows = np.arange(1500, 1510)
    taken = ParquetRows(path).take(rows)
    assert taken["n"].dtype == np.float64
    pd.testing.assert_frame_equal(taken, read_table(path).iloc[rows].reset_index(drop=True))
    # a writer that left the statistics out: the column itself is read for its nulls
    bare = tmp_path / "bare.parquet"
    flags = pa.array([True, None] + [False] * 1998)
    pq.write_table(table.append_column("flag", flags), bare, write_statistics=False)
    taken = ParquetRows(bare, chunk_rows=300).take(rows)
    assert (taken["n"].dtype, taken["flag"].dtype) == (np.float64, object)
    pd.testing.assert_frame_equal(taken, read_table(bare).iloc[rows].reset_index(drop=True))
    clean = tmp_path / "clean.parquet"
    pq.write_table(table.slice(1), clean, write_statistics=False)
    assert ParquetRows(clean).take(rows)["n"].dtype == np.int64


def test_stored_pandas_index_is_not_a_column(tmp_path) -> None:
    """``frame.set_index(...).to_parquet()`` stores ``__index_level_0__``: not a column of
    the batch (nor of the drift reference), as pandas reads the file."""
    frame = split().set_index(np.random.default_rng(0).permutation(N_ROWS))
    frame["count"] = frame["count"].astype(float)
    path = tmp_path / "test.parquet"
    frame.to_parquet(path, row_group_size=700)
    assert "__index_level_0__" in pq.read_schema(path).names
    assert list(ParquetRows(path).columns) == list(read_table(path).columns)
    assert list(ParquetColumns(path).columns) == list(read_table(path).columns)
    settings = {"n_samples": 200, "random_state": 1, "scale": {"b": 2.0}}
    pd.testing.assert_frame_equal(
        make_current_batch(ParquetRows(path), **settings),
        make_current_batch(read_table(path), **settings),
    )


@pytest.mark.parametrize("column, level", [("count", "3"), ("color", "red")])
def test_category_proportions_on_a_column_with_missing_values(tmp_path, column, level) -> None:
    """Missing values are one more level, left to share the rest in their own proportion:
    the batch reaches the named share, and the Parquet split gives the in-memory batch."""
    frame = split()
    frame[column] = frame[column].astype(float if column == "count" else object)
    frame.loc[::10, column] = np.nan  # 10% missing
    path = tmp_path / "test.parquet"
    write_groups(frame, path)
    settings = {"n_samples": 40_000, "random_state": 2,
                "category_proportions": {column: {level: 0.6}}}  # fmt: skip
    in_memory = make_current_batch(read_table(path), **settings)
    pd.testing.assert_frame_equal(make_current_batch(ParquetRows(path), **settings), in_memory)
    drawn = in_memory[column].value_counts(normalize=True, dropna=False)
    known = frame[column].value_counts(normalize=True, dropna=False)
    named = float(level) if column == "count" else level
    assert drawn[named] == pytest.approx(0.6, abs=0.01)
    expected_missing = 0.4 * known[known.index.isna()].sum() / (1 - known[named])
    assert drawn[drawn.index.isna()].sum() == pytest.approx(expected_missing, abs=0.01)


def test_bad_inputs_name_the_problem(tmp_path) -> None:
    with pytest.raises(UserError, match=r"nope.parquet: file not found"):
        ParquetRows(tmp_path / "nope.parquet")
    path = tmp_path / "test.parquet"
    write_groups(split(), path)
    source = ParquetRows(path, chunk_rows=300)
    with pytest.raises(UserError, match=r"generate.current.scale: unknown column\(s\) \['zz'\]"):
        make_current_batch(source, n_samples=5, random_state=0, scale={"zz": 2.0})
    with pytest.raises(UserError, match=r"generate.current.shift_sd.color: not a numeric column"):
        make_current_batch(source, n_samples=5, random_state=0, shift_sd={"color": 1.0})


@pytest.mark.parametrize(
    "key, scenario",
    [
        ("shift_sd", {"shift_sd": {"flat": 1.0}}),
        ("scale", {"scale": {"flat": 2.0}}),
        ("relabel.slope_sd", {"relabel": {"target": "y", "slope_sd": {"flat": 1.0}}}),
        ("relabel.target", {"relabel": {"target": "flat", "slope_sd": {"a": 1.0}}}),
    ],
)
@pytest.mark.parametrize("value", [0.0, 0.1])
def test_constant_column_is_refused(tmp_path, key, scenario, value) -> None:
    """A constant column's std is 0 or rounding noise (0.1 repeated: ~1e-17, numpy's too):
    dividing or scaling by it is refused, naming the params key and the column."""
    frame = split().assign(flat=value)
    assert frame["flat"].std() <= 8 * np.finfo(float).eps * value
    path = tmp_path / "test.parquet"
    write_groups(frame, path)
    message = rf"generate.current.{key}.flat: the column is constant"
    for source in (frame, ParquetRows(path), ParquetRows(path, chunk_rows=300)):
        with pytest.raises(UserError, match=message):
            make_current_batch(source, n_samples=50, random_state=0, **scenario)


@pytest.mark.parametrize("n_samples", [1, 60])
def test_real_table_with_nullable_dtypes(tmp_path, n_samples) -> None:
    """penguins-raw written by pandas (Int64 and boolean with missing values stored as such),
    row groups of 13 read 7 rows at a time: the Parquet split gives the in-memory batch, its
    dtypes too (its chunks were cast to float and object), and shifting the Int64 column
    works where a chunk holds one value (its variance is pd.NA, which float() refuses). A
    one-row batch is shifted (it was refused as 'not a numeric column')."""
    raw = penguins_raw()
    path = tmp_path / "test.parquet"
    raw.to_parquet(path, row_group_size=13)
    shifts = {"eggs": 0.5, "Body Mass (g)": 1.0}
    settings = {"n_samples": n_samples, "random_state": 3, "shift_sd": shifts,
                "scale": {"Culmen Length (mm)": 2.0}, "missing_rate": {"male": 0.3}}  # fmt: skip
    in_memory = make_current_batch(read_table(path), **settings)
    chunked = make_current_batch(ParquetRows(path, chunk_rows=7), **settings)
    pd.testing.assert_frame_equal(chunked, in_memory, check_exact=False, rtol=1e-12)
    assert len(in_memory) == n_samples and str(in_memory["male"].dtype) == "boolean"
    rows = np.random.default_rng(3).choice(len(raw), size=n_samples, replace=False)
    drawn = raw.iloc[rows].reset_index(drop=True)
    for column, k in shifts.items():
        expected = drawn[column].astype(float) + k * raw[column].astype(float).std()
        np.testing.assert_allclose(in_memory[column], expected, rtol=1e-12)


def test_one_row_split_names_the_problem(tmp_path) -> None:
    path = tmp_path / "test.parquet"
    write_groups(split(1), path)
    with pytest.raises(UserError, match=r"generate.current.shift_sd.a: one number only"):
        make_current_batch(ParquetRows(path), n_samples=5, random_state=0, shift_sd={"a": 1.0})


def test_unused_category_is_not_a_level(tmp_path) -> None:
    """A categorical (penguins-raw's Species, pandas' stored dtype) whose first 240 rows have
    no Chinstrap: naming that category is refused, as a level nowhere in the split is (no row
    could reach the share: the batch silently had none), and the other levels get their
    shares with no 0/0 warning from the unused one."""
    path = tmp_path / "test.parquet"
    split = penguins_raw().iloc[:240]
    split.to_parquet(path, row_group_size=13)
    gentoo, chinstrap = (
        "Gentoo penguin (Pygoscelis papua)",
        "Chinstrap penguin (Pygoscelis antarctica)",
    )
    assert chinstrap in split["Species"].cat.categories and chinstrap not in set(split["Species"])
    for source in (read_table(path), ParquetRows(path, chunk_rows=7)):
        with pytest.raises(UserError, match=r"category_proportions.Species: level 'Chin"):
            make_current_batch(
                source, n_samples=50, random_state=0,
                category_proportions={"Species": {chinstrap: 0.5}},
            )  # fmt: skip
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            batch = make_current_batch(
                source, n_samples=20_000, random_state=0,
                category_proportions={"Species": {gentoo: 0.8}},
            )  # fmt: skip
        assert (batch["Species"] == gentoo).mean() == pytest.approx(0.8, abs=0.01)
