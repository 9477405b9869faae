"""A reference longer than drift.reference_sample.rows, summarised in one pass over its row
groups: exact where the statistic allows it (compared with the in-memory result and with
scipy), a seeded sample for the distances (its error measured here and in docs/scale.md)."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy.stats import chi2_contingency, ks_2samp, wasserstein_distance

from regpipe.current import ParquetRows
from regpipe.drift import data_drift, distribution_table, summarised
from regpipe.drift.reference import level_table, sample_positions, summarise_reference
from regpipe.drift.statistics import chisquare_counts, clean, ks_counts
from regpipe.errors import UserError
from regpipe.io import ParquetColumns, parquet_num_rows, read_parquet_chunks, read_table
from tests.helpers import PARAMS, ROOT, edit_params
from tests.test_corpus import installed_file
from tests.test_drift import SETTINGS

EXACT = ("test", "n_reference", "n_current", "n_distinct", "missing_reference",
         "missing_current", "out_of_range_current", "drift", "type", "reason")  # fmt: skip


def training_split(n_rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "a": rng.normal(size=n_rows),
            "b": 10 + 3 * rng.standard_t(5, size=n_rows),
            "few": rng.integers(0, 4, n_rows).astype(float),
            "codes": rng.integers(0, 8, n_rows).astype(float),
            "binary": rng.integers(0, 2, n_rows),
            "color": rng.choice(["red", "green", "blue"], n_rows, p=[0.5, 0.3, 0.2]),
        }
    )
    frame.loc[rng.choice(n_rows, n_rows // 50, replace=False), "a"] = np.nan
    frame.loc[rng.choice(n_rows, n_rows // 100, replace=False), "color"] = None
    return frame


def batch(reference: pd.DataFrame, n_rows: int) -> pd.DataFrame:
    current = reference.sample(n_rows, random_state=1).reset_index(drop=True)
    current["a"] += 0.4  # moved: every test must flag it
    current.loc[0, "color"] = "purple"  # a level the reference never had
    return current


def write_groups(frame: pd.DataFrame, path, row_group_size: int) -> ParquetColumns:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    pq.write_table(table, path, row_group_size=row_group_size)
    return ParquetColumns(path)


@pytest.mark.parametrize("n_current", [300, 3000])
def test_summarised_reference_gives_the_in_memory_verdicts(tmp_path, n_current) -> None:
    """30,000 rows in 8 row groups, read 7,000 rows at a time, a 10,000-row sample: every
    column's test, verdict, sizes and quality shares equal the in-memory result; the p-value
    tests' statistics too; the distances and PSI within the sample's error."""
    reference = training_split(30_000)
    current = batch(reference, n_current)
    columns = list(reference.columns)
    parquet = write_groups(reference, tmp_path / "train.parquet", row_group_size=4000)
    full = data_drift(reference, current, columns, **SETTINGS)
    summary = summarised(parquet, current, columns, rows=10_000, random_state=3, chunk_rows=7000)
    sampled = data_drift(summary, current, columns, **SETTINGS)
    assert sampled["a"].drift and full["a"].drift
    for name in columns:
        exact, approximate = (
            {key: np.nan if value is None else value for key, value in result.model_dump().items()}
            for result in (full[name], sampled[name])
        )
        assert {key: approximate[key] for key in EXACT} == {key: exact[key] for key in EXACT}
        if exact["test"] in ("ks", "chisquare", "z", "jensenshannon"):
            # KS from counts, chi-square, z and Jensen-Shannon over counted levels: exact
            assert approximate["statistic"] == pytest.approx(exact["statistic"], rel=1e-12)
            assert approximate["p_value"] == pytest.approx(exact["p_value"], rel=1e-9, nan_ok=True)
        else:  # Wasserstein / sd over a 10,000-row sample
            assert approximate["distance"] == pytest.approx(exact["distance"], abs=0.02)
        if exact["type"] == "numeric":
            assert approximate["psi"] == pytest.approx(exact["psi"], abs=0.02)
            assert approximate["psi_band"] == exact["psi_band"]
    plot = distribution_table(summary, current, sampled, n_bins=6)
    assert np.allclose(plot.groupby(["column", "side"])["share"].sum(), 1.0)


def test_reference_up_to_the_sample_size_is_kept_whole(tmp_path) -> None:
    reference = training_split(2000)
    parquet = write_groups(reference, tmp_path / "train.parquet", row_group_size=500)
    assert summarised(parquet, batch(reference, 100), ["a"], rows=2000, random_state=0) is parquet
    assert (
        summarised(reference, batch(reference, 100), ["a"], rows=2000, random_state=0) is reference
    )


@pytest.mark.parametrize("n_finite", [0, 3, 3000, 10_000])
def test_mostly_missing_column_is_tested_on_every_value(tmp_path, n_finite) -> None:
    """30,000 rows in 8 row groups, a 10,000-row sample, a column with at most 10,000 values:
    its verdict is the whole reference's to the bit (3 values: tested, not 'no finite values';
    3,000: scipy's exact KS p-value, not the asymptotic one), and ks_2samp's; with none, the
    range share is None on both paths."""
    rng = np.random.default_rng(7)
    reference = pd.DataFrame({"sparse": np.full(30_000, np.nan), "label": None})
    where = rng.choice(30_000, n_finite, replace=False)
    reference.loc[where, "sparse"] = rng.normal(size=n_finite)
    reference.loc[where, "label"] = rng.choice(["x", "y", "z"], n_finite)
    current = pd.DataFrame(
        {"sparse": rng.normal(0.8, 1, 400), "label": rng.choice(["x", "y"], 400)}
    )
    columns = list(reference.columns)
    parquet = write_groups(reference, tmp_path / "train.parquet", row_group_size=4000)
    full = data_drift(reference, current, columns, **SETTINGS)
    summary = summarised(parquet, current, columns, rows=10_000, random_state=3, chunk_rows=7000)
    sampled = data_drift(summary, current, columns, **SETTINGS)
    for name in columns:
        assert sampled[name].model_dump() == full[name].model_dump()
        assert (full[name].test is None) == (n_finite == 0)
    # no present value in the reference: no range to be outside of, on either path
    assert (full["sparse"].out_of_range_current is None) == (n_finite == 0)
    if n_finite:
        assert full["sparse"].test == "ks"
        expected = ks_2samp(reference["sparse"].dropna(), current["sparse"])
        assert sampled["sparse"].p_value == pytest.approx(expected.pvalue, rel=1e-12)


def test_chunks_have_the_whole_files_dtypes(tmp_path) -> None:
    """An int column with a null in one row group (of 4) reads as float64 in every chunk, as
    pandas reads the whole file; a boolean one as object; so a level is one level."""
    n_rows = 8000
    rng = np.random.default_rng(2)
    null = np.arange(n_rows) == 7000
    codes, flags = rng.integers(1, 5, n_rows), rng.integers(0, 2, n_rows).astype(bool)
    table = pa.table(  # as a writer other than pandas leaves it: no pandas dtypes stored
        {
            "code": pa.array(codes, mask=null, type=pa.int64()),
            "flag": pa.array(flags, mask=null, type=pa.bool_()),
            "x": rng.normal(size=n_rows),
        }
    )
    path = tmp_path / "train.parquet"
    pq.write_table(table, path, row_group_size=2000)
    whole = pd.read_parquet(path)
    chunks = list(read_parquet_chunks(path, 1500))
    assert {str(chunk["code"].dtype) for chunk in chunks} == {str(whole["code"].dtype)}
    assert {str(chunk["flag"].dtype) for chunk in chunks} == {str(whole["flag"].dtype)}
    pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), whole)
    # tested as labels (the batch has text): '1' and '1.0' would be two levels
    current = pd.DataFrame({"code": rng.choice(["1.0", "2.0", "3.0", "4.0", "seven"], 500)})
    full = data_drift(whole, current, ["code"], **SETTINGS)
    summary = summarised(ParquetColumns(path), current, ["code"], rows=1000, random_state=0)
    sampled = data_drift(summary, current, ["code"], **SETTINGS)
    assert full["code"].test == "chisquare" and full["code"].n_distinct == 5
    assert sampled["code"].model_dump() == full["code"].model_dump()
    ref = whole["code"].dropna().astype(str).value_counts()
    cur = current["code"].value_counts()
    table = pd.concat([ref, cur], axis=1).fillna(0).to_numpy()
    assert sampled["code"].statistic == pytest.approx(chi2_contingency(table.T)[0], rel=1e-12)


def penguins_raw() -> pd.DataFrame:
    """palmerpenguins' raw table (344 rows: text, numbers with missing values, dates), with
    the dtypes a user's own DataFrame brings: dates (some at midnight only, some with a time
    of day), pandas' nullable Int64 and boolean with missing values, a categorical."""
    raw = pd.read_csv(installed_file("palmerpenguins", "palmerpenguins/data/penguins-raw.csv"))
    raw["Date Egg"] = pd.to_datetime(raw["Date Egg"])
    raw.loc[::7, "Date Egg"] += pd.Timedelta(hours=3)
    raw["eggs"] = raw["Sample Number"].where(raw.index % 5 != 0).astype("Int64")
    raw["male"] = raw["Sex"].map({"MALE": True, "FEMALE": False}).astype("boolean")
    raw["Species"] = raw["Species"].astype("category")
    return raw


def test_real_table_with_dates_and_nullable_dtypes(tmp_path) -> None:
    """penguins-raw written by pandas (its dtypes stored) in row groups of 23, read 37 rows at
    a time, summarised past 50 rows: every column's report equals the whole reference's. A
    chunk of dates all at midnight had labels without the time ('2007-11-11'), another chunk
    with it; a nullable Int64 chunk was cast to float, so its labels read '5.0', not '5'."""
    raw = penguins_raw()
    reference, current = raw.iloc[:240].reset_index(drop=True), raw.iloc[240:].copy()
    current["Sample Number"] = current["Sample Number"].astype(object)
    current.loc[current.index[0], "Sample Number"] = "unknown"  # text: tested as labels
    current["eggs"] = current["eggs"].astype(object)
    current.loc[current.index[1], "eggs"] = "seven"
    columns = list(reference.columns)
    path = tmp_path / "train.parquet"
    reference.to_parquet(path, row_group_size=23)
    full = data_drift(ParquetColumns(path), current, columns, **SETTINGS)
    summary = summarised(
        ParquetColumns(path), current, columns, rows=50, random_state=0, chunk_rows=37
    )
    sampled = data_drift(summary, current, columns, **SETTINGS)
    for name in columns:
        exact, approximate = full[name].model_dump(), sampled[name].model_dump()
        assert {key: approximate[key] for key in EXACT} == {key: exact[key] for key in EXACT}
        if exact["test"] == "chisquare":
            assert approximate["statistic"] == pytest.approx(exact["statistic"], rel=1e-12)
    assert full["Date Egg"].type == "categorical" and full["eggs"].type == "categorical"
    # independently: chi-square over the whole column's levels, each date in full
    dates = reference["Date Egg"].map(str).value_counts()
    table = pd.concat([dates, current["Date Egg"].map(str).value_counts()], axis=1).fillna(0)
    expected = chi2_contingency(table.to_numpy().T, correction=False)
    assert sampled["Date Egg"].statistic == pytest.approx(expected.statistic, rel=1e-12)
    known = set(reference["eggs"].dropna().map(str))
    present = current["eggs"].dropna().map(str)
    assert sampled["eggs"].out_of_range_current == (~present.isin(known)).mean()
    for chunk in read_parquet_chunks(path, 37):
        assert dict(chunk.dtypes) == dict(pd.read_parquet(path).dtypes)


def test_chunking_does_not_change_the_summary(tmp_path) -> None:
    """The sample's positions depend on the row count and the seed, not on the chunks."""
    reference = training_split(12_000)
    current = batch(reference, 500)
    parquet = write_groups(reference, tmp_path / "train.parquet", row_group_size=3000)
    one, other = (
        summarised(parquet, current, ["a", "color"], rows=10_000, random_state=5, chunk_rows=rows)
        for rows in (1000, 4096)
    )
    assert one["a"].std() == pytest.approx(reference["a"].std(ddof=0), rel=1e-12)
    for name in ("a", "color"):
        assert np.array_equal(one[name].sample, other[name].sample)
        assert one[name].level_counts == other[name].level_counts


def test_ks_from_counts_is_scipys_two_sample_test() -> None:
    """Ties on both sides (rounded values), a reference past scipy's exact-mode limit."""
    rng = np.random.default_rng(4)
    reference = np.sort(np.round(rng.normal(size=40_000), 1))
    for current in (np.round(rng.normal(0.1, 1, 150), 1), rng.normal(size=600)):
        current = np.sort(current)
        below = np.searchsorted(reference, current, "left")
        not_above = np.searchsorted(reference, current, "right")
        statistic, p_value = ks_counts(below, not_above, len(reference), current)
        expected = ks_2samp(reference, current)
        assert statistic == pytest.approx(expected.statistic, rel=1e-12)
        assert p_value == pytest.approx(expected.pvalue, rel=1e-9)


def test_pass_counts_are_exact() -> None:
    """Counts kept in one pass equal numpy and scipy on the whole column."""
    reference = training_split(9000)
    current = batch(reference, 400)
    chunks = (reference.iloc[start : start + 2500] for start in range(0, 9000, 2500))
    summary = summarise_reference(chunks, 9000, current, sample_rows=1000, random_state=0)
    a = summary["a"]
    values = reference["a"].dropna().to_numpy()
    cur = np.sort(current["a"].dropna().to_numpy())
    assert (a.n_rows, a.n_missing, a.n_values) == (9000, 180, 8820)
    assert (a.low, a.high) == (values.min(), values.max())
    assert np.array_equal(a.below, (values[:, None] < cur).sum(axis=0))
    assert np.array_equal(a.not_above, (values[:, None] <= cur).sum(axis=0))
    assert a.level_counts is None  # more values than any level test counts
    drawn = reference["a"].iloc[sample_positions(9000, 1000, random_state=0)]
    assert np.array_equal(a.sample, np.sort(drawn.dropna().to_numpy()))
    color = summary["color"]
    assert color.level_counts == reference["color"].value_counts().to_dict()
    table = pd.crosstab(
        pd.concat([reference["color"], current["color"]]),
        np.r_[np.zeros(9000), np.ones(len(current))],
    )
    ref, cur = level_table(color, clean(current["color"], numeric=False))
    statistic, p_value = chisquare_counts(ref, cur)
    expected = chi2_contingency(table.to_numpy().T, correction=False)
    assert (statistic, p_value) == pytest.approx((expected.statistic, expected.pvalue), rel=1e-12)


def test_sample_positions_are_a_uniform_draw_without_replacement() -> None:
    positions = sample_positions(3_000_000, 50_000, random_state=7)
    assert len(np.unique(positions)) == 50_000 and np.all(np.diff(positions) > 0)
    assert positions[0] >= 0 and positions[-1] < 3_000_000
    assert np.array_equal(positions, sample_positions(3_000_000, 50_000, random_state=7))
    # every third of the rows gets a third of the sample, up to binomial noise (sd ~105)
    thirds = np.bincount(positions // 1_000_000)
    assert np.all(np.abs(thirds - 50_000 / 3) < 600)
    assert np.array_equal(sample_positions(5, 10, random_state=0), np.arange(5))


@pytest.mark.heavy
@pytest.mark.parametrize("n_rows", [200_000, 1_000_000])
def test_sample_error_against_the_full_reference(n_rows) -> None:
    """The approximation: distances and PSI from a 100,000-row sample of 2e5 and 1e6 rows,
    against the full reference; verdicts equal. Figures in docs/scale.md."""
    rng = np.random.default_rng(n_rows)
    reference = pd.DataFrame({"a": rng.normal(size=n_rows), "b": rng.lognormal(size=n_rows)})
    current = pd.DataFrame({"a": rng.normal(0.05, 1, 20_000), "b": rng.lognormal(0.5, 1, 20_000)})
    full = data_drift(reference, current, ["a", "b"], **SETTINGS)
    summary = summarised(reference, current, ["a", "b"], rows=100_000, random_state=0)
    sampled = data_drift(summary, current, ["a", "b"], **SETTINGS)
    for name in ("a", "b"):
        exact = wasserstein_distance(reference[name], current[name]) / reference[name].std(ddof=0)
        assert full[name].distance == pytest.approx(exact, rel=1e-9)
        assert sampled[name].distance == pytest.approx(exact, abs=0.01)
        assert sampled[name].psi == pytest.approx(full[name].psi, abs=0.005)
        assert sampled[name].drift == full[name].drift


@pytest.mark.process
def test_drift_stage_summarises_a_long_reference(tmp_path) -> None:
    """The stage script on a 15,000-row Parquet reference: with reference_sample.rows 10,000 it
    summarises, and its report equals the in-memory run's but for PSI (from the sample)."""
    reference = training_split(15_000).assign(target=0.0)
    write_groups(reference, tmp_path / "train.parquet", row_group_size=4000)
    batch(reference, 300).drop(columns="target").to_csv(tmp_path / "current.csv", index=False)
    (tmp_path / "train_stats.json").write_text("{}")
    reports = {}
    for rows in (10_000, 1_000_000):
        edit_params(
            tmp_path / "params.yaml",
            {"drift.reference_sample.rows": rows},
            start_from=PARAMS,
        )
        command = [sys.executable, str(ROOT / "stages/drift.py"), "--train=train.parquet"]
        command += ["--stats=train_stats.json", "--current=current.csv"]
        command += ["--champion=unused.skops", "--model-card=unused.json"]
        command += [f"--out-metrics=drift{rows}.json", f"--out-plot=drift{rows}.csv"]
        subprocess.run(command, cwd=tmp_path, check=True, capture_output=True)
        reports[rows] = json.loads((tmp_path / f"drift{rows}.json").read_text())
    sampled, whole = reports[10_000], reports[1_000_000]
    for report in (sampled, whole):
        for column in report["columns"].values():
            column.pop("psi", None), column.pop("psi_band", None)
    assert sampled == whole
    # a moved; color has a level ("purple") the reference never had
    assert whole["n_reference"] == 15_000
    assert whole["dataset"]["drifted_columns"] == ["a", "color"]


@pytest.mark.process
def test_damaged_parquet_is_named_not_a_traceback(tmp_path) -> None:
    """ISLP's Bikeshare as Parquet, then damaged as a failed copy leaves it: cut short (no
    footer), bytes overwritten in a data page (footer intact: the error comes mid-pass), or a
    folder of parts (Dask's output) where a file is expected. Every reader the drift and
    current stages use, and the drift stage itself, answer one line naming the file."""
    table = pd.read_csv(installed_file("islp", "ISLP/data/Bikeshare.csv"))
    good = tmp_path / "good.parquet"
    pq.write_table(pa.Table.from_pandas(table, preserve_index=False), good, row_group_size=1000)
    data = good.read_bytes()
    cut, page, folder = (tmp_path / f"{name}.parquet" for name in ("cut", "page", "folder"))
    cut.write_bytes(data[:5000])
    page.write_bytes(data[:4] + b"\x07" * 3000 + data[3004:])
    folder.mkdir()
    (folder / "part.0.parquet").write_bytes(data)
    current = table.sample(300, random_state=0)
    readers = {
        "read_table": read_table,
        "parquet_num_rows": parquet_num_rows,
        "column": lambda path: ParquetColumns(path)["temp"],
        "chunks": lambda path: list(read_parquet_chunks(path, 700)),
        "summarised": lambda path: summarised(
            ParquetColumns(path), current, ["temp"], rows=100, random_state=0, chunk_rows=700
        ),
        "take": lambda path: ParquetRows(path).take(np.arange(10)),
    }
    for name, read in readers.items():
        with pytest.raises(
            UserError, match=r"cut.parquet: cannot read it as Parquet: .*Parquet magic"
        ):
            read(cut)
        with pytest.raises(UserError, match=r"folder.parquet: a folder, not a file"):
            read(folder)
        if name not in ("parquet_num_rows",):  # the footer alone is intact
            with pytest.raises(UserError, match=r"page.parquet: cannot read it as Parquet: \w"):
                read(page)
    table.drop(columns="bikers").iloc[:50].to_csv(tmp_path / "current.csv", index=False)
    (tmp_path / "stats.json").write_text("{}")
    edit_params(tmp_path / "params.yaml", {"prepare.target": "bikers"}, start_from=PARAMS)
    command = [sys.executable, str(ROOT / "stages/drift.py"), "--train=page.parquet"]
    command += ["--stats=stats.json", "--current=current.csv", "--champion=none.skops"]
    command += ["--model-card=none.json", "--out-metrics=drift.json", "--out-plot=drift.csv"]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: page.parquet: cannot read it as Parquet: Couldn't deserialize thrift: "
        "No more data to read."
    ]


def test_plot_of_a_mostly_missing_column_uses_every_kept_value(tmp_path) -> None:
    """ISLP's Bikeshare twice (17,290 rows, 3 row groups), two counts and two weather labels
    left, on rows a 10,000-row sample (seed 0) does not draw: the column is tested on both
    kept values, and its plot is drawn from them as the whole reference's is. It was drawn
    from the empty sample: numbers raised IndexError after drift.json was written."""
    bikes = pd.read_csv(installed_file("islp", "ISLP/data/Bikeshare.csv"))
    reference = pd.concat([bikes, bikes], ignore_index=True)[["casual", "weathersit", "temp"]]
    undrawn = np.setdiff1d(np.arange(len(reference)), sample_positions(len(reference), 10_000, 0))
    kept = reference.index.isin(undrawn[[100, 5000]])
    for name in ("casual", "weathersit"):
        reference[name] = reference[name].where(kept)
    current = bikes.sample(300, random_state=0)[["casual", "weathersit", "temp"]]
    current = current.assign(casual=current["casual"] + 500, weathersit="snow")
    columns = list(reference.columns)
    parquet = write_groups(reference, tmp_path / "train.parquet", row_group_size=6000)
    summary = summarised(parquet, current, columns, rows=10_000, random_state=0)
    assert len(summary["casual"].sample) == len(summary["weathersit"].sample) == 0
    sampled = data_drift(summary, current, columns, **SETTINGS)
    full = data_drift(reference, current, columns, **SETTINGS)
    assert sampled["casual"].drift and sampled["weathersit"].drift
    assert sampled["casual"] == full["casual"] and sampled["weathersit"] == full["weathersit"]
    plots = [distribution_table(ref, current, full, n_bins=5) for ref in (summary, reference)]
    pd.testing.assert_frame_equal(*(plot.query("column != 'temp'") for plot in plots))
    reference_side = plots[0].query("column == 'casual' and side == 'reference'")
    assert reference_side["share"].sum() == 1.0
