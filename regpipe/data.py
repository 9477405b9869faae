"""Data sources for the generate stage and the train/test split."""

import pandas as pd

from regpipe.errors import UserError


def load_diabetes_frame() -> pd.DataFrame:
    """scikit-learn's bundled Diabetes data: the 10 features by their sklearn names + ``target``."""
    from sklearn.datasets import load_diabetes

    return load_diabetes(as_frame=True).frame


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
