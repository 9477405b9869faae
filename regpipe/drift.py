"""Data drift between the training split (the reference) and a current batch."""

import pandas as pd
from scipy.stats import ks_2samp


def ks_drift(
    reference: pd.DataFrame, current: pd.DataFrame, columns: list[str], *, p_value: float
) -> dict[str, dict]:
    """Per column, the two-sample Kolmogorov-Smirnov test; drift when p <= ``p_value``."""
    report = {}
    for column in columns:
        result = ks_2samp(reference[column].dropna(), current[column].dropna())
        report[column] = {
            "test": "ks",
            "statistic": float(result.statistic),
            "p_value": float(result.pvalue),
            "threshold": p_value,
            "drift": bool(result.pvalue <= p_value),
        }
    return report


def dataset_verdict(columns: dict[str, dict], *, drift_share: float) -> dict:
    """Dataset-level drift: the share of drifted columns reaches ``drift_share``."""
    drifted = sorted(name for name, result in columns.items() if result["drift"])
    share = len(drifted) / len(columns) if columns else 0.0
    return {
        "drifted_columns": drifted,
        "n_drifted": len(drifted),
        "share_drifted": share,
        "drift_share": drift_share,
        "drift": share >= drift_share,
    }
