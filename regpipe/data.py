"""Data sources for the generate stage, and the production-like batch drift is checked on."""

import numpy as np
import pandas as pd

from regpipe.errors import UserError


def load_diabetes_frame() -> pd.DataFrame:
    """scikit-learn's bundled Diabetes data: the 10 features by their sklearn names + ``target``."""
    from sklearn.datasets import load_diabetes

    return load_diabetes(as_frame=True).frame


def make_current_batch(
    frame: pd.DataFrame, *, n_samples: int, shift_sd: dict[str, float], random_state: int
) -> pd.DataFrame:
    """Rows resampled with replacement from ``frame``, named columns shifted by k std deviations.

    This stands in for production traffic until a real batch is supplied: with no shift it is
    drawn from the training distribution, so the drift stage must stay quiet on it.
    """
    unknown = sorted(set(shift_sd) - set(frame.columns))
    if unknown:
        raise UserError(
            f"generate.current.shift_sd: unknown column(s) {unknown}; valid: {list(frame.columns)}"
        )
    rng = np.random.default_rng(random_state)
    rows = rng.integers(0, len(frame), size=n_samples)
    batch = frame.iloc[rows].reset_index(drop=True)
    for column, k in shift_sd.items():
        batch[column] = batch[column] + k * frame[column].std()
    return batch


def split_train_test(
    frame: pd.DataFrame, *, test_size: float, random_state: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """scikit-learn's shuffled train/test split; the row order within each part is sklearn's."""
    from sklearn.model_selection import train_test_split

    if round(len(frame) * test_size) < 1 or round(len(frame) * (1 - test_size)) < 2:
        raise UserError(
            f"prepare.test_size={test_size} leaves an empty part with {len(frame)} rows"
        )
    train, test = train_test_split(frame, test_size=test_size, random_state=random_state)
    return train.reset_index(drop=True), test.reset_index(drop=True)
