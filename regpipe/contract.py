"""The data contract checked by prepare, the repairs it may make, and the training statistics.

The contract (``data_contract.yaml``, kept in git) names every column with its type: numeric
with an allowed range, or categorical with its levels, and the share of missing values it may
have. It is inferred from the first dataset that passes, then only read: later data must meet
it. Checking is lazy: every violation of every check is found in one pass and reported as a
table (column, check, value, row); each check then fails the run or is fixed, as params say.

Rows are 0-based positions among the data rows of the raw table (the header is not counted).
pandera is imported only when a frame is validated: it costs about a second of import time,
which only prepare should pay.
"""

import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import yaml

from regpipe.errors import UserError
from regpipe.io import atomic_path

if TYPE_CHECKING:
    from regpipe.progress import PassLog
    from regpipe.tables import Table

QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
HISTOGRAM_BINS = 10
MAX_ROWS_SHOWN = 10
MAX_LEVELS = 50
RANGE_MARGIN = 0.1  # an inferred range is the observed one widened by this share on each side
MAX_ABS = 1e100  # a larger number's square overflows float64 in the least-squares solve
NUMERIC_SHARE = 0.9  # a text column is inferred numeric when this share of its values are numbers

CHECKS = ("columns", "types", "finite", "range", "missing", "duplicates", "target")
FIXABLE = ("types", "finite", "range", "missing", "duplicates", "target")
# The params key (or file) that changes what each check does, named in every failure message.
POLICY_HINTS = {
    "columns": "add the column, list it in prepare.drop_columns, or delete data_contract.yaml "
    "to infer the contract again",
    "types": "prepare.on_violation.types: fix sets them missing",
    "finite": "prepare.on_violation.finite: fix sets them missing",
    "range": "prepare.on_violation.range: fix clips them (unknown levels: missing)",
    "missing": "prepare.on_violation.missing: fix imputes them, or raise the column's "
    "max_missing in data_contract.yaml",
    "duplicates": "prepare.on_violation.duplicates: keep counts them, fix drops them",
    "target": "prepare.on_violation.target: fix drops those rows",
}
_DECIMAL_COMMA = re.compile(r"^\s*[-+]?\d+,\d+\s*$")


class ContractError(UserError):
    """The data broke the contract; the message lists every violation, ``report`` has them all."""

    def __init__(self, message: str, report: dict | None = None) -> None:
        super().__init__(message)
        self.report = report


# normalisation -----------------------------------------------------------------------------


def _is_text(values: pd.Series) -> bool:
    return not pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


def normalise_numeric_text(values: pd.Series) -> pd.Series:
    """Text meant as numbers made parseable: spaces trimmed, a decimal comma ("1,5") to a point."""
    text = values.astype("string").str.strip()
    comma = text.str.match(_DECIMAL_COMMA).fillna(False).astype(bool)
    return text.where(~comma, text.str.replace(",", ".", regex=False))


def normalise_category(values: pd.Series) -> pd.Series:
    """Category labels compared as people mean them: trimmed, inner spaces single, lower case."""
    text = values.astype("string").str.strip().str.replace(r"\s+", " ", regex=True).str.lower()
    return text.mask(text == "").astype(object).where(text.notna(), None)


def _changed(before: pd.Series, after: pd.Series) -> int:
    both = before.notna() & after.notna()
    return int((before[both].astype(str) != after[both].astype(str)).sum())


# the contract ------------------------------------------------------------------------------


def infer_contract(
    frame: pd.DataFrame, *, target: str, max_missing: float, max_levels: int = MAX_LEVELS
) -> dict:
    """A contract that ``frame`` meets: each column's type, range or levels, and missing share.

    A text column whose values (after normalisation) are mostly numbers (NUMERIC_SHARE) is
    numeric, the rest being type violations; any other text column is categorical if it has at
    most ``max_levels`` levels (prepare.max_levels). Ranges are the observed ones widened by
    RANGE_MARGIN of their width on each side, so close-by new data still passes.
    """
    if target not in frame.columns:
        raise ContractError(f"no target column {target!r} (prepare.target) to infer a contract")
    columns = {}
    for name in frame.columns:
        columns[name] = _column_contract(frame[name], target=target, max_levels=max_levels)
        columns[name]["max_missing"] = 0.0 if name == target else max_missing
    return {"target": target, "columns": columns}


def _column_contract(values: pd.Series, *, target: str, max_levels: int) -> dict:
    """One column's type and range or levels: a function of its own so that a column is
    freed before the next one is read (a column may be 1e8 rows)."""
    name = values.name
    if _is_text(values):
        numbers = pd.to_numeric(normalise_numeric_text(values), errors="coerce")
        if numbers.notna().sum() >= NUMERIC_SHARE * values.notna().sum() or name == target:
            values = numbers
    if _is_text(values):
        levels = sorted(normalise_category(values).dropna().unique())
        if len(levels) > max_levels:
            raise ContractError(
                f"column {name!r}: text with {len(levels)} distinct values is neither numeric "
                f"nor categorical (at most {max_levels} levels, prepare.max_levels); list it "
                "in prepare.drop_columns or raise prepare.max_levels"
            )
        return {"type": "categorical", "levels": levels}
    # masks, not copies, and one at a time
    numbers = values.astype(float).to_numpy()
    finite = np.isfinite(numbers)
    outside = numbers > MAX_ABS
    outside |= numbers < -MAX_ABS
    outside &= finite
    huge = np.flatnonzero(outside)
    del outside
    if len(huge):
        raise ContractError(
            f"column {name!r}: value {numbers[huge[0]]:.3g} at row "
            f"{values.index[huge[0]]} is beyond ±{MAX_ABS:g}, the limit: its square "
            "overflows the least-squares solve; rescale the column in the data or list "
            "it in prepare.drop_columns"
        )
    low, high = 0.0, 0.0
    if finite.any():
        low = float(numbers.min(where=finite, initial=np.inf))
        high = float(numbers.max(where=finite, initial=-np.inf))
    margin = RANGE_MARGIN * (high - low)
    return {
        "type": "numeric",
        "min": float(f"{low - margin:.6g}"),
        "max": float(f"{high + margin:.6g}"),
    }


def identifier_columns(frame: pd.DataFrame, *, target: str) -> dict[str, str]:
    """Columns that name rows rather than describe them, each with the reason it is one.

    Text with a distinct value in every row (a name or code: one level per row teaches a model
    nothing), and integers that are a row counter: every value of min..min+n-1 once, in any
    order (``Obs``, ``ID``). Other unique integers (counts, prices) stay features: telling them
    from an id needs the user, who has ``prepare.drop_columns``.
    """
    found = {}
    for name in frame.columns:
        if name != target:  # the column read only here: freed before the next one is read
            reason = _identifier_reason(frame[name])
            if reason:
                found[name] = reason
    return found


def _identifier_reason(values: pd.Series) -> str | None:
    """Why the column names rows (``identifier_columns``), or None."""
    if len(values) < 3 or values.isna().any():
        return None
    if _is_text(values):
        if values.head(1000).is_unique and values.is_unique:
            return f"text with a distinct value in each of the {len(values)} rows"
    elif pd.api.types.is_integer_dtype(values) and not pd.api.types.is_bool_dtype(values):
        low, high = int(values.min()), int(values.max())
        if high - low + 1 == len(values) and values.is_unique:
            return f"a row counter: each integer {low}..{high} once"
    return None


def leave_out_columns(
    frame: pd.DataFrame, *, drop_columns: list[str], detect_ids: bool, target: str, source: str
) -> tuple[pd.DataFrame, dict[str, str]]:
    """``frame`` without the columns named in ``drop_columns`` and, if ``detect_ids``, without
    identifier-like ones (each said on stderr); the columns left out, with why."""
    unknown = sorted(set(drop_columns) - set(frame.columns))
    if unknown:
        raise UserError(
            f"prepare.drop_columns: no column(s) {unknown} in {source}; "
            f"columns: {list(frame.columns)}"
        )
    left_out = dict.fromkeys(drop_columns, "listed in prepare.drop_columns")
    if detect_ids:
        for name, reason in identifier_columns(
            frame.drop(columns=drop_columns), target=target
        ).items():
            left_out[name] = f"identifier-like: {reason}"
            print(
                f"prepare: column {name!r} left out of the features: {reason} "
                "(prepare.detect_ids: false keeps it)",
                file=sys.stderr,
            )
    return frame.drop(columns=list(left_out)), left_out


def feature_names(contract: dict) -> list[str]:
    """The model's input columns, in the contract's order: every column but the target."""
    return [name for name in contract["columns"] if name != contract["target"]]


@dataclass
class Checked:
    """The checks' findings on a table: every violation, in the order they are reported."""

    violations: pd.DataFrame  # column, check, value, row: every failing cell or row
    n_rows: int
    columns: list[str]  # the contract's columns present in the table, in the contract's order
    normalised: dict[str, int] = field(default_factory=dict)  # column -> cells rewritten
    extra_columns: list[str] = field(default_factory=list)


CHECK_RANK = {"target": 0, "finite": 0, "range": 1, "missing": 2}  # each column's checks, in order


def _schema(contract: dict, names: list[str], checks: set[str], missing_ok: dict) -> "object":
    """The pandera schema of ``contract``'s columns ``names`` with only ``checks``; each check is
    named as in CHECKS, for the report. Whether a column has more missing values than it may
    is a whole-table fact, decided before (``missing_ok``): the check then lists its cells."""
    import pandera.pandas as pa

    columns = {}
    for name in names:
        spec, ok = contract["columns"][name], missing_ok.get(name, True)
        missing = pa.Check(
            lambda s, ok=ok: s.notna() | ok,
            name="missing",
            ignore_na=False,
        )
        if name == contract["target"]:
            candidates = [
                pa.Check(lambda s: s.notna() & np.isfinite(s), name="target", ignore_na=False)
            ]
        elif spec["type"] == "numeric":
            low, high = spec["min"], spec["max"]
            candidates = [
                pa.Check(lambda s: ~np.isinf(s), name="finite"),
                pa.Check(
                    lambda s, low=low, high=high: ~np.isfinite(s) | s.between(low, high),
                    name="range",
                ),
                missing,
            ]
        else:
            levels = spec["levels"]
            candidates = [pa.Check(lambda s, levels=levels: s.isin(levels), name="range"), missing]
        checks_here = [check for check in candidates if check.name in checks]
        columns[name] = pa.Column(None, nullable=True, checks=checks_here, required=True)
    return pa.DataFrameSchema(columns)


def repeated_rows(frame: pd.DataFrame) -> pd.Series:
    """True for each row equal to an earlier one: ``frame.duplicated()``, ten times faster.

    Rows are hashed to one integer each; only rows whose hash repeats are compared in full,
    so a hash collision can never drop a row.
    """
    hashes = _row_hashes(frame)
    candidates = _among(hashes, _repeated_values(np.sort(hashes)))
    repeated = pd.Series(False, index=frame.index)
    repeated[candidates] = frame[candidates].duplicated()
    return repeated


def _row_hashes(frame: pd.DataFrame) -> np.ndarray:
    return pd.util.hash_pandas_object(frame, index=False).to_numpy()


def _repeated_values(ordered: np.ndarray, block: int = 1 << 20) -> np.ndarray:
    """The values found more than once in the sorted array ``ordered``, sorted: neighbours
    compared ``block`` at a time, so nothing the size of the array is made."""
    found = [np.empty(0, dtype=ordered.dtype)]
    for start in range(0, len(ordered) - 1, block):
        stop = min(start + block, len(ordered) - 1)
        here = ordered[start:stop]
        found.append(np.unique(here[here == ordered[start + 1 : stop + 1]]))
    return np.unique(np.concatenate(found))


def _among(values: np.ndarray, ordered: np.ndarray) -> np.ndarray:
    """True where a value is in the sorted array ``ordered``."""
    places = np.minimum(np.searchsorted(ordered, values), max(len(ordered) - 1, 0))
    return ordered[places] == values if len(ordered) else np.zeros(len(values), dtype=bool)


def coerce(frame: pd.DataFrame, contract: dict) -> tuple[pd.DataFrame, list, dict[str, int]]:
    """``frame``'s contract columns normalised to the contract's types: numbers from text
    ("1,5", " 2 "), category labels as people mean them; the cells that are not numbers (a
    table per column) and how many cells each column had rewritten."""
    present = [name for name in contract["columns"] if name in frame.columns]
    checked = frame[present]  # copy-on-write: only the columns rewritten below take memory
    types, normalised = [], {}
    for name in present:
        spec, raw = contract["columns"][name], frame[name]
        if spec["type"] == "numeric" and _is_text(raw):
            text = normalise_numeric_text(raw)
            # float64 always: to_numeric may give a nullable Int64 that clipping cannot fill
            values = pd.to_numeric(text, errors="coerce").astype(float)
            bad = values.isna() & text.notna()
            types.append((name, _table(name, "types", raw[bad])))
            normalised[name] = _changed(raw, text)
            checked[name] = values
        elif spec["type"] == "numeric":
            checked[name] = raw.astype(float)
        else:
            checked[name] = normalise_category(raw)
            normalised[name] = _changed(raw, checked[name])
    return checked, types, normalised


def _validate(schema: "object", frame: pd.DataFrame) -> pd.DataFrame:
    import pandera.pandas as pa

    try:
        schema.validate(frame, lazy=True, inplace=True)  # nothing to coerce
    except pa.errors.SchemaErrors as errors:
        return _pandera_table(errors.failure_cases)
    return _table(None, "types", pd.Series())


def check_table(table: "Table", contract: dict, *, log: "PassLog | None" = None) -> Checked:
    """Normalise ``table`` to the contract's types and find every violation, a chunk at a time.

    The violations come in the order pandera gives them for the whole table (the one order
    the report has ever had): cells that are not numbers per column, then repeated rows (for
    each column, the repeated rows where it is not missing: pandera unstacks the failing
    rows), then absent columns, then each column's checks in turn. Memory: a chunk, 8 bytes a
    row of row hashes (sorted in place, then dropped), and the rows whose hash repeats
    (compared in full). Each pass over the
    chunks is counted in ``log`` (a bar if it is long).
    """
    from regpipe.progress import PassLog

    log = log or PassLog()
    expected = list(contract["columns"])
    present = [name for name in expected if name in table.columns]
    feature_checks = _schema(contract, present, {"target", "finite", "range"}, {})
    types: dict[str, list] = {name: [] for name in present}
    normalised = dict.fromkeys(present, 0)
    missing = dict.fromkeys(present, 0)
    hashes, cases, start = np.empty(len(table), dtype=np.uint64), [], 0
    for chunk in log.track(table.chunks(present), table.n_chunks, "checking the contract"):
        checked, found, changed = coerce(chunk, contract)
        for name, cells in found:
            types[name].append(cells)
        for name, count in changed.items():
            normalised[name] += count
        for name, count in checked.isna().sum().items():
            missing[name] += int(count)
        hashes[start : start + len(checked)] = _row_hashes(checked)
        start += len(checked)
        cases.append(_validate(feature_checks, checked))
    n_rows = len(table)
    missing_ok = {
        name: bool(n_rows) and missing[name] / n_rows <= contract["columns"][name]["max_missing"]
        for name in present
    }
    over = [
        name
        for name in present
        if name != contract["target"] and not missing_ok[name] and missing[name]
    ]
    hashes.sort()  # in place: the row hashes are the only thing held per row
    repeats = _repeated_values(hashes)
    del hashes
    repeated = pd.DataFrame(columns=present)
    if over or len(repeats):  # a second pass, only for data with repeats or gaps
        missing_checks = _schema(contract, over, {"missing"}, missing_ok)
        gathered = []
        for chunk in log.track(table.chunks(present), table.n_chunks, "gathering repeated rows"):
            checked = coerce(chunk, contract)[0]
            selected = np.zeros(len(checked), dtype=bool)
            if len(repeats):  # the chunk's hashes again: no mask over the table is kept
                selected = _among(_row_hashes(checked), repeats)
            gathered.append(checked[selected])
            if over:
                cases.append(_validate(missing_checks, checked[over]))
        candidates_frame = pd.concat(gathered)
        repeated = candidates_frame[candidates_frame.duplicated()]
    column_cases = pd.concat(cases, ignore_index=True)
    position = {name: number for number, name in enumerate(present)}
    column_cases = column_cases.iloc[
        np.lexsort(
            (
                column_cases["check"].map(CHECK_RANK).to_numpy(),
                column_cases["column"].map(position).to_numpy(),
            )
        )
    ]
    # pandera lists a failing row once per column it has a value in, column by column
    listed = [repeated.index[repeated[name].notna()].to_numpy() for name in present]
    duplicate_rows = pd.unique(np.concatenate(listed)) if listed else []
    duplicates = _table(None, "duplicates", pd.Series("repeats an earlier row", duplicate_rows))
    absent = [name for name in expected if name not in table.columns]
    columns = pd.DataFrame(
        {
            "column": absent,
            "check": "columns",
            "value": "column not in the data",
            "row": pd.Series([None] * len(absent), dtype=object),
        }
    )
    found = [cells for name in present for cells in types[name]]
    return Checked(
        # the empty table first gives the columns even when nothing was found
        violations=pd.concat(
            [_table(None, "types", pd.Series()), *found, duplicates, columns, column_cases],
            ignore_index=True,
        ),
        n_rows=n_rows,
        columns=present,
        normalised={name: count for name, count in normalised.items() if count},
        extra_columns=[name for name in table.columns if name not in expected],
    )


def _table(column: str | None, check: str, failing: pd.Series) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "column": column,
            "check": check,
            "value": failing.astype(object).to_numpy(),
            "row": failing.index.to_numpy(),
        }
    )


def _pandera_table(failure_cases: pd.DataFrame) -> pd.DataFrame:
    """pandera's failure cases as (column, check, value, row)."""
    cases = failure_cases.astype(object)
    return pd.DataFrame(
        {
            "column": cases["column"].to_numpy(),
            "check": cases["check"].astype(str).to_numpy(),
            "value": cases["failure_case"].to_numpy(),
            "row": cases["index"].to_numpy(),
        }
    )


# policies: fail or fix ---------------------------------------------------------------------


def summarise(violations: pd.DataFrame) -> pd.DataFrame:
    """One line per (check, column): how many failures, the first rows and values."""
    if violations.empty:
        return pd.DataFrame(columns=["check", "column", "n", "rows", "values"])
    grouped = violations.fillna({"column": ""}).groupby(["check", "column"], sort=False)
    return grouped.agg(
        n=("row", "size"),
        rows=("row", lambda rows: list(rows[:MAX_ROWS_SHOWN])),
        values=("value", lambda values: list(values[:MAX_ROWS_SHOWN])),
    ).reset_index()


def violation_message(source: str, summary: pd.DataFrame, failing: list[str]) -> str:
    """The stderr summary: one readable line per (check, column) that stops the run."""
    lines = [f"{source}: data contract violated (checks set to fail: {failing})"]
    for item in summary[summary["check"].isin(failing)].itertuples():
        more = f" and {item.n - MAX_ROWS_SHOWN} more" if item.n > MAX_ROWS_SHOWN else ""
        where = f"column {item.column!r}" if item.column else "whole rows"
        rows = ", ".join("-" if pd.isna(r) else str(r) for r in item.rows)
        values = ", ".join(map(repr, item.values[:3]))
        lines.append(f"  {item.check}: {where}: {item.n} at row(s) {rows}{more} (e.g. {values})")
    for check in failing:
        lines.append(f"  to change what {check} does: {POLICY_HINTS[check]}")
    lines.append("(rows count from 0 among the data rows: row r is line r + 2 of a CSV file)")
    return "\n".join(lines)


def fix_counts(violations: pd.DataFrame, contract: dict) -> dict:
    """What repairing every violation found changes (each check's policy is ``fix``).

    Cells that are not numbers or are infinite become missing (imputed after the split), values
    out of range are clipped (unknown levels become missing), repeated rows and rows without a
    finite target are dropped. Missing values are imputed later, from the training split only.
    """
    fixes: dict[str, dict] = {"set_missing": {}, "clipped": {}, "dropped_rows": {}}
    for check in ("types", "finite"):  # "types" cells are already missing after coercion
        for column, rows in _failing_rows(violations, check).items():
            fixes["set_missing"][column] = fixes["set_missing"].get(column, 0) + len(rows)
    for column, rows in _failing_rows(violations, "range").items():
        if contract["columns"][column]["type"] == "numeric":
            fixes["clipped"][column] = len(rows)
        else:
            fixes["set_missing"][column] = fixes["set_missing"].get(column, 0) + len(rows)
    for check in ("target", "duplicates"):
        rows = violations.loc[violations["check"] == check, "row"].unique()
        if len(rows):
            fixes["dropped_rows"][check] = len(rows)
    return fixes


def apply_fixes(frame: pd.DataFrame, violations: pd.DataFrame, contract: dict) -> pd.DataFrame:
    """``frame`` (rows of the checked table) with the violations in its rows repaired, as
    ``fix_counts`` counts them."""
    violations = violations[violations["row"].isin(frame.index)]
    if violations.empty:
        return frame
    frame = frame.copy()
    for column, rows in _failing_rows(violations, "finite").items():
        frame.loc[rows, column] = np.nan
    for column, rows in _failing_rows(violations, "range").items():
        spec = contract["columns"][column]
        if spec["type"] == "numeric":
            frame.loc[rows, column] = frame.loc[rows, column].clip(spec["min"], spec["max"])
        else:
            frame.loc[rows, column] = None
    dropped = violations.loc[violations["check"].isin(["target", "duplicates"]), "row"]
    return frame.drop(index=dropped.unique())


def _failing_rows(violations: pd.DataFrame, check: str) -> dict[str, list]:
    selected = violations[violations["check"] == check]
    return {column: list(rows) for column, rows in selected.groupby("column")["row"]}


def imputation_value(column: pd.Series, spec: dict) -> object:
    """What replaces a missing value of a feature: the training median, or most frequent level."""
    if spec["type"] == "numeric":
        values = column.to_numpy(dtype=float)
        present = values[~np.isnan(values)]  # the one copy: the median partitions it in place
        return float(np.median(present, overwrite_input=True)) if len(present) else 0.0
    modes = column.mode()
    return modes.iloc[0] if len(modes) else spec["levels"][0]


def imputation_values(train: pd.DataFrame, contract: dict) -> dict[str, object]:
    """Per feature, what replaces a missing value (``imputation_value``)."""
    return {
        name: imputation_value(train[name], contract["columns"][name])
        for name in feature_names(contract)
    }


def impute(frame: pd.DataFrame, values: dict[str, object]) -> tuple[pd.DataFrame, dict[str, int]]:
    """``frame`` with missing features filled from ``values``; counts per column."""
    counts = {name: int(frame[name].isna().sum()) for name in values}
    fill = {name: values[name] for name, n in counts.items() if n}
    return (frame.fillna(fill) if fill else frame), {name: counts[name] for name in fill}


def judge(
    table: "Table",
    contract: dict,
    *,
    on_violation: dict[str, str],
    min_rows: int,
    source: str,
    max_listed: int,
    log: "PassLog | None" = None,
) -> tuple[Checked, dict]:
    """The violations ``table`` has and the data quality report, before any row is changed.

    Every violation is found first; repeated rows under the ``keep`` policy are only counted
    (``repeated_rows_kept``) and left out of the returned violations. If any check set to
    ``fail`` (or the always-fatal ``columns`` check) has one, a ContractError carries the
    report and a summary naming each column, check and rows. Otherwise the fixes are counted
    (``fixed_chunks`` applies them). The report lists the first ``max_listed`` violations one
    by one and counts all of them per check and column.
    """
    checked = check_table(table, contract, log=log)
    summary = summarise(checked.violations)
    policy = {"columns": "fail", **on_violation}
    failing = [
        check for check in CHECKS if policy[check] == "fail" and check in set(summary["check"])
    ]
    report = {
        "source": source,
        "n_rows_in": checked.n_rows,
        "passed": not failing,
        "failed_checks": failing,
        "policy": policy,
        "checks": {
            check: int(summary.loc[summary["check"] == check, "n"].sum()) for check in CHECKS
        },
        "extra_columns_dropped": checked.extra_columns,
        "normalised_cells": checked.normalised,
        "n_violations": len(checked.violations),
        "violation_counts": [
            {"check": item.check, "column": item.column or None, "n": int(item.n)}
            for item in summary.itertuples()
        ],
        "violations": _report_rows(checked.violations.head(max_listed)),
        "violations_not_listed": max(len(checked.violations) - max_listed, 0),
    }
    if failing:
        raise ContractError(violation_message(source, summary, failing), report=report)
    if policy["duplicates"] == "keep":  # legitimate repeats: counted above, left in the data
        violations = checked.violations
        checked.violations = violations[violations["check"] != "duplicates"]
    report["repeated_rows_kept"] = (
        report["checks"]["duplicates"] if policy["duplicates"] == "keep" else 0
    )
    report["fixes"] = fix_counts(checked.violations, contract)
    dropped = checked.violations.loc[
        checked.violations["check"].isin(["target", "duplicates"]), "row"
    ]
    report["n_rows_out"] = checked.n_rows - dropped.nunique()
    if report["n_rows_out"] < min_rows:
        report["passed"], report["failed_checks"] = False, ["min_rows"]
        raise ContractError(
            f"{source}: {report['n_rows_out']} rows left after the fixes, fewer than "
            f"prepare.min_rows={min_rows}",
            report=report,
        )
    return checked, report


def fixed_chunks(
    table: "Table", contract: dict, checked: Checked, *, log: "PassLog | None" = None
) -> Iterator[pd.DataFrame]:
    """The rows of ``table`` normalised and repaired as ``judge`` decided, a chunk at a time
    (one pass, counted in ``log``)."""
    from regpipe.progress import PassLog

    chunks = table.chunks(checked.columns)
    for chunk in (log or PassLog()).track(chunks, table.n_chunks, "fixing and splitting"):
        yield apply_fixes(coerce(chunk, contract)[0], checked.violations, contract)


def enforce_contract(
    frame: pd.DataFrame,
    contract: dict,
    *,
    on_violation: dict[str, str],
    min_rows: int,
    source: str,
    max_listed: int,
    chunk_rows: int | None = None,
) -> tuple[pd.DataFrame, dict]:
    """The contract's columns of ``frame``, checked and repaired (``judge``), and the report:
    prepare's own steps on a frame in memory, ``chunk_rows`` rows at a time (default: one)."""
    from regpipe.tables import Table

    table = Table(frame, chunk_rows or max(len(frame), 1))
    checked, report = judge(
        table,
        contract,
        on_violation=on_violation,
        min_rows=min_rows,
        source=source,
        max_listed=max_listed,
    )
    fixed = pd.concat(list(fixed_chunks(table, contract, checked)))
    return fixed.reset_index(drop=True), report


def _report_rows(violations: pd.DataFrame) -> list[dict]:
    """The violations table for the JSON report, one entry per failing cell or row."""
    return [
        {
            "column": item.column or None,
            "check": item.check,
            "value": _json_value(item.value),
            "row": None if pd.isna(item.row) else int(item.row),
        }
        for item in violations.fillna({"column": ""}).itertuples()
    ]


def _json_value(value: object) -> object:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return str(value)
    return value if isinstance(value, int | float | str | bool) or value is None else str(value)


def read_contract(path: str | Path, *, target: str) -> dict:
    """The contract file at ``path``; refuses one written for another target column."""
    path = Path(path)
    try:
        contract = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise UserError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(contract, dict) or set(contract) != {"target", "columns"}:
        raise UserError(f"{path}: expected the keys 'target' and 'columns'")
    if contract["target"] != target:
        raise UserError(
            f"{path}: written for target {contract['target']!r} but prepare.target is {target!r};"
            " delete the file to infer a new contract from the data"
        )
    return contract


def write_contract(contract: dict, path: str | Path) -> None:
    header = (
        "# The data contract prepare checks (see README, 'Data in'). Inferred from the first\n"
        "# accepted dataset; edit it to tighten, or delete it to infer it again.\n"
    )
    with atomic_path(path) as tmp:
        tmp.write_text(header + yaml.safe_dump(contract, sort_keys=False))


# training statistics -----------------------------------------------------------------------


def training_statistics(
    frame: pd.DataFrame, contract: dict | None = None
) -> dict[str, dict[str, object]]:
    """Per column, the reference that drift and serving compare new data with.

    Numeric: count, missing, mean, std, min, max, quantiles and a histogram on HISTOGRAM_BINS
    equal bins between the training min and max (its edges are saved, so new data can be
    binned the same way). Categorical: count, missing, and the frequency of each level.
    """
    stats: dict[str, dict[str, object]] = {}
    for column in frame.columns:
        values = frame[column]
        kind = "numeric"
        if contract is not None:
            kind = contract["columns"][column]["type"]
        if kind == "categorical":
            counts = values.value_counts()
            levels = contract["columns"][column]["levels"]
            stats[column] = {
                "kind": kind,
                "count": int(values.count()),
                "missing": int(values.isna().sum()),
                "frequencies": {
                    level: float(counts.get(level, 0) / max(values.count(), 1)) for level in levels
                },
            }
            continue
        quantiles = values.quantile(list(QUANTILES))
        low, high = float(values.min()), float(values.max())
        present = values.to_numpy()[values.notna().to_numpy()]  # one copy (dropna made ~3)
        counts, edges = np.histogram(present, bins=HISTOGRAM_BINS, range=(low, high))
        del present
        stats[column] = {
            "kind": kind,
            "count": int(values.count()),
            "missing": int(values.isna().sum()),
            "mean": float(values.mean()),
            "std": _std(values),
            "min": low,
            "max": high,
            **{f"q{round(q * 100):02d}": float(quantiles[q]) for q in QUANTILES},
            "histogram": {"edges": edges.tolist(), "counts": counts.tolist()},
        }
    return stats


def _std(values: pd.Series) -> float:
    """``values.std()`` as pandas computes it (two passes, the missing values as 0, ddof 1),
    holding one copy of a float column instead of two (its masked copy and the squares)."""
    if values.dtype != np.float64:
        return float(values.std())
    numbers = values.to_numpy()
    missing = np.isnan(numbers)
    count = np.float64(missing.size - missing.sum())
    if count <= 1:
        return float("nan")
    work = numbers.copy()
    np.putmask(work, missing, 0)
    mean = work.sum(dtype=np.float64) / count
    np.subtract(mean, work, out=work)
    np.square(work, out=work)
    np.putmask(work, missing, 0)
    return float(np.sqrt(work.sum(dtype=np.float64) / (count - np.float64(1))))
