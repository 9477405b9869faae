"""The production-like "current" batch: held-out rows with a drift scenario applied on demand.

Every drift behaviour the drift stage must recognise can be produced from params.yaml
(``generate.current``) and reproduced with ``dvc repro``: a shift by k standard deviations, a
change of scale, moved category proportions, injected missing values, and relabelled targets
(the inputs stay as they were, only the relation between inputs and target moves).
"""

from collections.abc import Mapping

import numpy as np
import pandas as pd

from regpipe.errors import UserError

PARAM = "generate.current"


def _check_columns(frame: pd.DataFrame, key: str, columns: object) -> None:
    unknown = sorted(set(columns) - set(frame.columns))
    if unknown:
        raise UserError(f"{PARAM}.{key}: unknown column(s) {unknown}; valid: {list(frame.columns)}")


def _numbers(frame: pd.DataFrame, key: str, column: str) -> pd.Series:
    """``column`` as floats, with text and ±inf as missing: the raw data is not checked yet
    (prepare does that), and one bad cell must not turn the scenario's mean and std into NaN."""
    values = pd.to_numeric(frame[column], errors="coerce").replace([np.inf, -np.inf], np.nan)
    if values.notna().sum() < 2:
        raise UserError(f"{PARAM}.{key}.{column}: not a numeric column")
    return values


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

    Levels not named share what is left in their original proportions; rows keep their other
    columns, so the batch stays realistic (a level drawn more often brings its own rows).
    """
    if not category_proportions:
        return None
    weights = np.ones(len(frame))
    for column, proportions in category_proportions.items():
        frequencies = frame[column].value_counts(normalize=True, dropna=False)
        named = {
            _matching_level(frequencies.index, str(k), column): p for k, p in proportions.items()
        }
        total = sum(named.values())
        if total > 1 + 1e-9:
            raise UserError(
                f"{PARAM}.category_proportions.{column}: proportions sum to {total:g}; must be <= 1"
            )
        other_mass = frequencies.drop(list(named)).sum()
        target_share = {
            level: named.get(level, (1 - total) * share / other_mass if other_mass else 0.0)
            for level, share in frequencies.items()
        }
        ratio = {level: target_share[level] / frequencies[level] for level in frequencies.index}
        weights *= frame[column].map(ratio).to_numpy(dtype=float)
    if weights.sum() == 0:
        raise UserError(f"{PARAM}.category_proportions: every row has weight 0")
    return weights / weights.sum()


def make_current_batch(
    frame: pd.DataFrame,
    *,
    n_samples: int,
    random_state: int,
    shift_sd: Mapping[str, float] | None = None,
    scale: Mapping[str, float] | None = None,
    category_proportions: Mapping[str, Mapping[str, float]] | None = None,
    missing_rate: Mapping[str, float] | None = None,
    relabel: Mapping | None = None,
) -> pd.DataFrame:
    """Rows of ``frame`` (the test split), then the drift scenario applied.

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
    shift_sd, scale = shift_sd or {}, scale or {}
    category_proportions, missing_rate = category_proportions or {}, missing_rate or {}
    for key, columns in [
        ("shift_sd", shift_sd),
        ("scale", scale),
        ("category_proportions", category_proportions),
        ("missing_rate", missing_rate),
    ]:
        _check_columns(frame, key, columns)
    if relabel:
        _check_columns(frame, "relabel.target", [relabel["target"]])
        _check_columns(frame, "relabel.slope_sd", relabel["slope_sd"])
    if len(frame) == 0:
        raise UserError(f"{PARAM}: the dataset to draw the current batch from is empty")

    rng = np.random.default_rng(random_state)
    weights = _row_weights(frame, category_proportions)
    if weights is None:
        rows = rng.choice(len(frame), size=min(n_samples, len(frame)), replace=False)
    else:
        rows = rng.choice(len(frame), size=n_samples, replace=True, p=weights)
    batch = frame.iloc[rows].reset_index(drop=True)
    for column, k in shift_sd.items():
        values = _numbers(frame, "shift_sd", column)
        batch[column] = _numbers(batch, "shift_sd", column) + k * values.std()
    for column, factor in scale.items():
        mean = _numbers(frame, "scale", column).mean()
        batch[column] = (_numbers(batch, "scale", column) - mean) * factor + mean
    if relabel:
        target = relabel["target"]
        y_std = _numbers(frame, "relabel.target", target).std()
        for column, k in relabel["slope_sd"].items():
            values = _numbers(frame, "relabel.slope_sd", column)
            z = (_numbers(batch, "relabel.slope_sd", column) - values.mean()) / values.std()
            batch[target] = _numbers(batch, "relabel.target", target) + k * y_std * z
    for column, rate in missing_rate.items():
        batch[column] = batch[column].mask(rng.random(len(batch)) < rate)
    return batch
