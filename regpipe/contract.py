"""The data contract checked by prepare, and the training statistics it records."""

import numpy as np
import pandas as pd

from regpipe.errors import UserError

QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
MAX_ROWS_SHOWN = 10


class ContractError(UserError):
    """The data broke the contract; the message lists every violation found."""


def _rows(mask: pd.Series) -> str:
    rows = mask[mask].index.tolist()
    shown = ", ".join(map(str, rows[:MAX_ROWS_SHOWN]))
    more = f" and {len(rows) - MAX_ROWS_SHOWN} more" if len(rows) > MAX_ROWS_SHOWN else ""
    return f"row(s) {shown}{more}"


def contract_violations(frame: pd.DataFrame, *, features: list[str], target: str) -> list[str]:
    """Every way ``frame`` breaks the contract: expected columns, numbers only, none missing or inf.

    Rows are 0-based positions among the data rows (the header is not counted).
    """
    expected = [*features, target]
    missing = [c for c in expected if c not in frame.columns]
    problems = [f"column {c!r}: missing" for c in missing]
    for column in expected:
        if column in missing:
            continue
        values = pd.to_numeric(frame[column], errors="coerce")
        not_numeric = values.isna() & frame[column].notna()
        if not_numeric.any():
            problems.append(f"column {column!r}: not a number at {_rows(not_numeric)}")
        if frame[column].isna().any():
            what = "target" if column == target else "value"
            problems.append(f"column {column!r}: missing {what} at {_rows(frame[column].isna())}")
        infinite = pd.Series(np.isinf(values.to_numpy(dtype=float)), index=frame.index)
        if infinite.any():
            problems.append(f"column {column!r}: infinite value at {_rows(infinite)}")
    return problems


def check_contract(
    frame: pd.DataFrame, *, features: list[str], target: str, source: str
) -> pd.DataFrame:
    """The expected columns of ``frame`` as floats, or a ContractError naming every violation."""
    problems = contract_violations(frame, features=features, target=target)
    if problems:
        raise ContractError(f"{source}: data contract violated\n  " + "\n  ".join(problems))
    return frame[[*features, target]].astype(float)


def training_statistics(frame: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Per column: count, mean, std, min, max and quantiles: the reference for drift and serving."""
    stats = {}
    for column in frame.columns:
        values = frame[column]
        stats[column] = {
            "count": int(values.count()),
            "mean": float(values.mean()),
            "std": float(values.std()),
            "min": float(values.min()),
            "max": float(values.max()),
            **{f"q{round(q * 100):02d}": float(values.quantile(q)) for q in QUANTILES},
        }
    return stats
