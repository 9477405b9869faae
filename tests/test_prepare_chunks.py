"""prepare out of core: a raw table of several row groups, read a few rows at a time, gives the
outputs the whole table in memory gives, and pandas + scikit-learn's own computation.

The table has repeated rows across chunk boundaries, missing values over a column's limit, a
text column with messy labels, numbers written as text, and violations of every fixable check
in several chunks; prepare runs as dvc runs it (its own process, params.yaml in the folder).
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.model_selection import train_test_split

from regpipe.contract import infer_contract, write_contract
from tests.helpers import PARAMS, ROOT, command_env

pytestmark = pytest.mark.process  # prepare runs as its stage script, in a subprocess

N_ROWS, CHUNK_ROWS, ROW_GROUP = 2300, 200, 300
FIX = dict.fromkeys(("types", "finite", "range", "missing", "duplicates", "target"), "fix")
LEVELS = ["blue", "green", "red"]


def raw_table() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=N_ROWS),
            "z": rng.uniform(0, 10, N_ROWS),
            "colour": rng.choice(["red", " Red", "blue", "GREEN  ", "green"], N_ROWS),
            "num_text": [f"{v:.3f}".replace(".", ",") for v in rng.normal(size=N_ROWS)],
            "target": rng.normal(size=N_ROWS),
        }
    )
    frame["colour"] = frame["colour"].astype(object)
    frame["num_text"] = frame["num_text"].astype(object)
    frame.loc[rng.choice(N_ROWS, 230, replace=False), "x"] = np.nan  # 10%: over its 5% limit
    frame.loc[[3, 640, 1999], "colour"] = None
    for rows, column, value in [
        ([15, 830, 2250], "num_text", "n/a"),  # types
        ([7, 1201], "z", np.inf),  # finite
        ([44, 1555], "z", 25.0),  # range: clipped
        ([60, 1700], "colour", "purple"),  # range: an unknown level
        ([99, 2001], "target", np.nan),  # target
    ]:
        frame.loc[rows, column] = value
    # repeats of earlier rows: across chunk boundaries, inside a chunk, and one with a gap
    for source, copy in [(10, 250), (199, 200), (399, 1600), (401, 402), (5, 2299)]:
        frame.iloc[copy] = frame.iloc[source]
    return frame


def contract() -> dict:
    rng = np.random.default_rng(3)
    clean = pd.DataFrame(
        {
            "x": rng.normal(size=500).clip(-3.5, 3.5),
            "z": rng.uniform(0, 10, 500),
            "colour": rng.choice(LEVELS, 500),
            "num_text": rng.normal(size=500).clip(-3.5, 3.5),
            "target": rng.normal(size=500),
        }
    )
    return infer_contract(clean, target="target", max_missing=0.05)


def run_prepare(folder: Path, chunk_rows: int) -> subprocess.CompletedProcess:
    """The stage script in a process of its own. regpipe.progress.SHOW_AFTER_S is set so the
    outcome does not hang on the box's load: 0 for the chunked run (its bars drawn at once),
    a minute for the one-chunk run (short work, however busy the machine)."""
    params = yaml.safe_load(PARAMS.read_text())
    params["prepare"].update(on_violation=FIX, chunk_rows=chunk_rows, max_listed_violations=1000)
    (folder / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    write_contract(contract(), folder / "data_contract.yaml")
    (folder / "raw").mkdir()
    raw_table().to_parquet(folder / "raw/data.parquet", index=False, row_group_size=ROW_GROUP)
    argv = [
        "prepare.py",
        "--data=raw/data.parquet",
        "--contract=data_contract.yaml",
        "--out-train=prepared/train.parquet",
        "--out-test=prepared/test.parquet",
        "--out-stats=prepared/train_stats.json",
        "--out-quality=data_quality.json",
    ]
    show_after = 0.0 if chunk_rows < N_ROWS else 60.0
    code = (
        f"import runpy, sys, regpipe.progress\nregpipe.progress.SHOW_AFTER_S = {show_after}\n"
        f"sys.argv = {argv!r}\nrunpy.run_path({str(ROOT / 'stages/prepare.py')!r}, "
        "run_name='__main__')"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=folder,
        env=command_env(),
        capture_output=True,
        text=True,
        check=True,
    )


def reference() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict]:
    """The outputs computed here with pandas and scikit-learn: the training split before
    imputing, both imputed splits, and the count of each check's violations."""
    frame, spec = raw_table(), contract()["columns"]
    text = frame["num_text"].astype("string").str.strip().str.replace(",", ".")
    numbers = pd.to_numeric(text, errors="coerce").astype(float)
    colour = frame["colour"].astype("string").str.strip().str.lower()
    colour = colour.astype(object).where(colour.notna(), None)
    counts = {
        "types": int((numbers.isna() & text.notna()).sum()),
        "finite": int(np.isinf(frame["z"]).sum()),
        "missing": int(frame["x"].isna().sum()),
        "target": int(frame["target"].isna().sum()),
    }
    frame = frame.assign(num_text=numbers, colour=colour)
    counts["duplicates"] = int(frame.duplicated().sum())
    numeric = ["x", "z", "num_text"]
    out_of_range = sum(
        int((frame[name] < spec[name]["min"]).sum() + (frame[name] > spec[name]["max"]).sum())
        - int(np.isinf(frame[name]).sum())
        for name in numeric
    )
    unknown = frame["colour"].notna() & ~frame["colour"].isin(spec["colour"]["levels"])
    counts["range"] = out_of_range + int(unknown.sum())
    frame = frame.replace([np.inf, -np.inf], np.nan)
    for name in numeric:
        frame[name] = frame[name].clip(spec[name]["min"], spec[name]["max"])
    frame.loc[unknown, "colour"] = None
    frame = frame[~frame.duplicated() & frame["target"].notna()].reset_index(drop=True)
    train, test = train_test_split(frame, test_size=0.2, random_state=42)
    fill = {name: train[name].median() for name in numeric}
    fill["colour"] = train["colour"].mode().iloc[0]
    imputed = [
        part.fillna(fill).reset_index(drop=True).astype({"colour": "str"}) for part in (train, test)
    ]
    return train.reset_index(drop=True), *imputed, counts


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> dict[int, tuple[Path, str]]:
    """prepare run on the same table 200 rows at a time and in one chunk."""
    runs = {}
    for chunk_rows in (CHUNK_ROWS, N_ROWS):
        folder = tmp_path_factory.mktemp(f"chunks{chunk_rows}")
        runs[chunk_rows] = (folder, run_prepare(folder, chunk_rows).stderr)
    return runs


def test_chunked_prepare_equals_pandas_and_sklearn(prepared: dict) -> None:
    folder = prepared[CHUNK_ROWS][0]
    train_raw, train, test, counts = reference()
    assert pq_row_groups(folder / "raw/data.parquet") == -(-N_ROWS // ROW_GROUP)
    pd.testing.assert_frame_equal(pd.read_parquet(folder / "prepared/train.parquet"), train)
    pd.testing.assert_frame_equal(pd.read_parquet(folder / "prepared/test.parquet"), test)
    quality = json.loads((folder / "data_quality.json").read_text())
    assert {check: quality["checks"][check] for check in counts} == counts
    assert quality["n_rows_in"] == N_ROWS
    assert quality["n_rows_out"] == len(train) + len(test)
    stats = json.loads((folder / "prepared/train_stats.json").read_text())
    for name in ("x", "z", "num_text", "target"):
        column = train_raw[name]
        assert stats[name]["missing"] == int(column.isna().sum())
        for key, expected in [
            ("mean", column.mean()),
            ("std", column.std()),
            ("q50", column.median()),
            ("q01", column.quantile(0.01)),
        ]:
            assert stats[name][key] == pytest.approx(expected, rel=1e-9), (name, key)
    frequencies = train_raw["colour"].value_counts(normalize=True)
    assert stats["colour"]["frequencies"] == pytest.approx(
        {level: frequencies.get(level, 0.0) for level in LEVELS}, rel=1e-9
    )


def test_chunked_prepare_equals_one_chunk(prepared: dict) -> None:
    """Byte for byte: the report (its listed violations in order), the statistics, the
    contract; the splits' rows in the same order."""
    chunked, whole = (prepared[size][0] for size in (CHUNK_ROWS, N_ROWS))
    for name in ("data_quality.json", "prepared/train_stats.json", "data_contract.yaml"):
        assert (chunked / name).read_bytes() == (whole / name).read_bytes(), name
    for name in ("prepared/train.parquet", "prepared/test.parquet"):
        pd.testing.assert_frame_equal(
            pd.read_parquet(chunked / name), pd.read_parquet(whole / name), check_exact=True
        )
    quality = json.loads((chunked / "data_quality.json").read_text())
    listed = {item["check"] for item in quality["violations"]}
    assert listed >= {"types", "duplicates", "finite", "range", "missing", "target"}


def test_progress_only_for_long_passes_and_nothing_left_behind(prepared: dict) -> None:
    chunked_stderr, whole_stderr = (prepared[size][1] for size in (CHUNK_ROWS, N_ROWS))
    for bar in ("checking the contract", "fixing and splitting", "writing train", "writing test"):
        assert f"{bar}:" in chunked_stderr  # regpipe.progress's bars, one per pass, named
    summary = chunked_stderr.strip().splitlines()[-1]
    assert summary.startswith(f"prepare: {N_ROWS:,} rows checked in 12 chunks of 200")
    assert summary.endswith(" s") and "passes in" in summary
    assert whole_stderr == ""  # short work stays quiet
    for folder, _ in prepared.values():
        assert sorted(path.name for path in (folder / "prepared").iterdir()) == [
            "test.parquet",
            "train.parquet",
            "train_stats.json",
        ]


def pq_row_groups(path: Path) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).num_row_groups


def test_a_whole_column_is_the_column_pandas_reads(tmp_path: Path) -> None:
    # numbers and booleans are read a chunk at a time into one array: with the dtype the
    # whole column has in pandas even where a chunk has no null (integers -> float, bool ->
    # object), and text as before
    import pyarrow as pa
    import pyarrow.parquet as pq

    from regpipe.tables import Table

    rng = np.random.default_rng(4)
    n_rows = 1000
    gaps = np.isin(np.arange(n_rows), [5, 150])  # in the first chunk only
    floats = rng.normal(size=n_rows)
    floats[gaps] = np.nan
    integers = rng.integers(-5, 5, n_rows)
    flags = rng.random(n_rows) < 0.5
    columns = {
        "floats": pa.array(floats),
        "float32": pa.array(floats.astype(np.float32)),
        "integers": pa.array(integers),
        "int32": pa.array(integers.astype(np.int32)),
        "integers_with_gaps": pa.array(integers, mask=gaps),
        "flags": pa.array(flags),
        "flags_with_gaps": pa.array(flags, mask=gaps),
        "text": pa.array(rng.choice(["a", "b"], n_rows), mask=gaps),
    }
    path = tmp_path / "table.parquet"
    pq.write_table(pa.table(columns), path, row_group_size=300)
    # pandas' nullable dtypes, which to_parquet stores in the file's pandas metadata
    nullable = pd.DataFrame(
        {
            "Int64": pd.array(np.where(gaps, None, integers), dtype="Int64"),
            "boolean": pd.array(np.where(gaps, None, flags), dtype="boolean"),
            "floats": floats,
        }
    )
    nullable_path = tmp_path / "nullable.parquet"
    nullable.to_parquet(nullable_path, row_group_size=300)
    for source, names in ((path, columns), (nullable_path, nullable.columns)):
        expected = pq.read_table(source).to_pandas()
        table = Table(source, chunk_rows=200)
        for name in names:
            pd.testing.assert_series_equal(table[name], expected[name], check_exact=True)
