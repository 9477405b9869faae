"""Data sources for the generate stage, and the train/test split.

Three sources feed generate: scikit-learn's Diabetes data, a synthetic regression problem with a
sparse known truth (generated chunk by chunk, so its size is bounded by disk, not memory), and a
user's CSV file, checked here for what makes a CSV unreadable (encoding, delimiter, header).
What makes its values unusable is the data contract's job, in prepare.
"""

import csv
import math
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from regpipe.errors import UserError

if TYPE_CHECKING:
    from regpipe.params import Generate

DELIMITERS = (";", "\t", "|")
MAX_FIELD_CHARS = 131_072  # Python's csv default; a longer field is refused, not parsed
MAX_COLUMNS = 10_000  # a wider file is refused: each column costs a contract check
DIABETES_FEATURES = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]


def _longest_field(text: str) -> int:
    """The length of the longest comma-separated field of one line (quotes respected)."""
    limit = csv.field_size_limit()
    csv.field_size_limit(max(limit, len(text) + 1))
    try:
        return max((len(field) for field in next(csv.reader([text]), [])), default=0)
    finally:
        csv.field_size_limit(limit)


def load_diabetes_frame(target: str = "target") -> pd.DataFrame:
    """scikit-learn's bundled Diabetes data: the 10 features by their sklearn names + ``target``.

    The frame ``sklearn.datasets.load_diabetes(as_frame=True).frame`` gives (tests check it
    value for value), read from the two files scikit-learn ships and scaled as its loader
    does, without importing scikit-learn: that import (SciPy's statistics with it) was half
    of the generate stage's CPU time on Diabetes.
    """
    data = _sklearn_data_file("diabetes_data_raw.csv.gz")
    # load_diabetes(scaled=True): sklearn.preprocessing.scale (mean and std taken before the
    # centring), then each column divided by sqrt(n_samples)
    mean, std = np.nanmean(data, axis=0), np.nanstd(data, axis=0)
    data -= mean
    data /= std
    data /= data.shape[0] ** 0.5
    frame = pd.DataFrame(data, columns=DIABETES_FEATURES)
    if target != "target" and target in frame.columns:
        raise UserError(
            f"params.yaml: prepare.target={target!r} is also a feature of the diabetes source; "
            "name the target otherwise (e.g. target)"
        )
    frame[target] = _sklearn_data_file("diabetes_target.csv.gz")
    return frame


def _sklearn_data_file(name: str) -> np.ndarray:
    """One of the gzipped CSV files in ``sklearn/datasets/data``, found without importing
    scikit-learn (``find_spec`` of a top-level package does not run it)."""
    import gzip
    from importlib.util import find_spec

    spec = find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("generate.source=diabetes needs scikit-learn installed (make setup)")
    path = Path(spec.submodule_search_locations[0], "datasets", "data", name)
    with gzip.open(path, mode="rt", encoding="utf-8") as stream:
        return np.loadtxt(stream)


def synthetic_truth(
    *, n_features: int, n_informative: int, n_categorical: int, n_levels: int, random_state: int
) -> dict:
    """The known model behind the synthetic data: which coefficients are non-zero, and their value.

    Numeric features are ``x0..x{n-1}``; ``n_informative`` of them, chosen at random, get a
    coefficient of magnitude 1..5 with a random sign (on features of unit variance). Categorical
    columns ``c0, c1, ...`` take levels ``a, b, c, ...`` and have no effect on y: they exist so the
    contract, the one-hot encoding and drift meet non-numeric data.
    """
    rng = np.random.default_rng([random_state, 0])
    coef = np.zeros(n_features)
    support = np.sort(rng.choice(n_features, size=n_informative, replace=False))
    coef[support] = rng.uniform(1, 5, n_informative) * rng.choice([-1.0, 1.0], n_informative)
    return {
        "coef": {f"x{j}": float(value) for j, value in enumerate(coef)},
        "support": [f"x{j}" for j in support],
        "intercept": 0.0,
        "categorical": {
            f"c{k}": [chr(ord("a") + i) for i in range(n_levels)] for k in range(n_categorical)
        },
    }


def synthetic_chunks(
    truth: dict,
    *,
    n_samples: int,
    noise: float,
    correlation: float,
    chunk_size: int,
    target: str,
    random_state: int,
) -> Iterator[pd.DataFrame]:
    """Rows of ``y = X @ coef + noise``, ``chunk_size`` at a time; the same rows at any chunk size.

    Features are standard normal with AR(1) correlation ``correlation**|i-j|`` between x_i and
    x_j. Each quantity draws from its own random stream, so the data does not depend on how the
    rows are chunked.
    """
    coef = np.array(list(truth["coef"].values()))
    levels = truth["categorical"]
    features_rng, noise_rng, levels_rng = np.random.default_rng([random_state, 1]).spawn(3)
    innovation = np.sqrt(1 - correlation**2)
    for start in range(0, n_samples, chunk_size):
        n_rows = min(chunk_size, n_samples - start)
        X = features_rng.standard_normal((n_rows, len(coef)))
        for j in range(1, X.shape[1]):
            X[:, j] = correlation * X[:, j - 1] + innovation * X[:, j]
        chunk = pd.DataFrame(X, columns=list(truth["coef"]))
        for name, names in levels.items():
            chunk[name] = pd.Categorical.from_codes(
                levels_rng.integers(0, len(names), n_rows), categories=names
            ).astype(str)
        chunk[target] = X @ coef + truth["intercept"] + noise * noise_rng.standard_normal(n_rows)
        yield chunk


def _csv_header(path: Path) -> list[str]:
    """The header of a CSV file, refusing what no amount of cleaning can read."""
    if not path.is_file():
        raise UserError(f"{path}: file not found (generate.csv.path)")
    header: list[str] = []
    with open(path, "rb") as stream:
        for line_number, line in enumerate(stream, start=1):
            try:
                text = line.decode("utf-8-sig" if line_number == 1 else "utf-8")
            except UnicodeDecodeError as error:
                raise UserError(
                    f"{path}: not UTF-8 text: byte {line[error.start : error.end]!r} at line "
                    f"{line_number}; save the file as UTF-8"
                ) from None
            if len(text) > MAX_FIELD_CHARS and _longest_field(text) > MAX_FIELD_CHARS:
                raise UserError(
                    f"{path}: line {line_number}: a field of {_longest_field(text)} characters, "
                    f"over the limit of {MAX_FIELD_CHARS}"
                )
            if line_number == 1:
                header = [name.strip() for name in next(csv.reader([text]), [])]
                if len(header) > MAX_COLUMNS:
                    raise UserError(
                        f"{path}: line 1: {len(header)} columns, over the limit of {MAX_COLUMNS}"
                    )
    if not any(name.strip() for name in header):
        raise UserError(f"{path}: the file is empty; expected a header line and data rows")
    return header


def load_csv_source(path: str | Path, *, target: str) -> pd.DataFrame:
    """A user's comma-separated, UTF-8 CSV file, with a unique header that names ``target``.

    Column names are trimmed of spaces; values are left as pandas reads them (a numeric column
    with a stray text value stays text): the contract in prepare normalises and checks them, so
    every bad value is reported at once.
    """
    path = Path(path)
    header = _csv_header(path)
    if len(header) == 1:
        for delimiter in DELIMITERS:
            if delimiter in header[0]:
                raise UserError(
                    f"{path}: one column {header[0]!r}: the file looks {delimiter!r}-separated; "
                    "expected commas"
                )
    counts = Counter(header)  # linear: header.count per name was quadratic in the columns
    repeated = sorted(name for name, n in counts.items() if n > 1)
    if repeated:
        positions = {name: [i for i, n in enumerate(header) if n == name] for name in repeated}
        raise UserError(f"{path}: duplicated column name(s) at header positions {positions}")
    if target not in header:
        raise UserError(f"{path}: no target column {target!r} (prepare.target); columns: {header}")
    try:
        frame = pd.read_csv(path, encoding="utf-8-sig", skipinitialspace=True)
    except (pd.errors.ParserError, ValueError) as error:
        raise UserError(f"{path}: cannot parse as CSV: {error}") from None
    if frame.empty:
        raise UserError(f"{path}: header only, no data rows (columns {header})")
    return frame.set_axis(header, axis="columns")


def split_permutation(
    n_rows: int, *, test_size: float, random_state: int, min_test_rows: int = 1
) -> tuple[np.ndarray, int]:
    """scikit-learn's shuffled train/test split of ``n_rows`` rows as one permutation of the
    row positions and the number of test rows: its first ``n_test`` entries are the test rows
    and the rest the training rows, each in the order
    ``sklearn.model_selection.train_test_split(np.arange(n_rows), ...)`` gives them.

    That is ``RandomState(random_state).permutation(n_rows)`` (scikit-learn's ``ShuffleSplit``)
    computed with NumPy alone: importing ``sklearn.model_selection`` cost prepare ~2 s of CPU
    on Diabetes. The permutation is shuffled as int32 up to 2**31 rows (4 bytes a row, not
    NumPy's 8): the shuffle's swaps do not depend on the type, so it is the same permutation.
    Tests compare it with scikit-learn's over many sizes and seeds. A test split under
    ``min_test_rows`` is refused: the gate's verdict would rest on a few rows.
    """
    if round(n_rows * test_size) < 1 or round(n_rows * (1 - test_size)) < 2:
        raise UserError(f"prepare.test_size={test_size} leaves an empty part with {n_rows} rows")
    n_test = math.ceil(test_size * n_rows)
    if n_test < min_test_rows:
        raise UserError(
            f"prepare.test_size={test_size} of {n_rows} rows gives a test split of "
            f"{n_test} rows, fewer than prepare.min_test_rows={min_test_rows}; raise "
            "prepare.test_size or lower prepare.min_test_rows"
        )
    permutation = np.arange(n_rows, dtype=np.int32 if n_rows <= 2**31 else np.int64)
    np.random.RandomState(random_state).shuffle(permutation)
    return permutation, n_test


def split_indices(
    n_rows: int, *, test_size: float, random_state: int, min_test_rows: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """The positions of the training rows and of the test rows (``split_permutation``'s two
    parts), as int64 arrays like scikit-learn's."""
    permutation, n_test = split_permutation(
        n_rows, test_size=test_size, random_state=random_state, min_test_rows=min_test_rows
    )
    permutation = permutation.astype(np.int64, copy=False)
    return permutation[n_test:], permutation[:n_test]


def split_train_test(
    frame: pd.DataFrame, *, test_size: float, random_state: int, min_test_rows: int = 1
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``split_indices`` applied to ``frame``: the training and test rows, in sklearn's order."""
    train, test = split_indices(
        len(frame), test_size=test_size, random_state=random_state, min_test_rows=min_test_rows
    )
    return frame.iloc[train].reset_index(drop=True), frame.iloc[test].reset_index(drop=True)


def source_chunks(params: "Generate", *, target: str) -> tuple[Iterator[pd.DataFrame], dict]:
    """The rows of the source chosen in ``params`` (chunks) and what is known of its truth.

    Diabetes and CSV sources come as one chunk; the synthetic source in ``chunk_size`` rows.
    """
    if params.source == "synthetic":
        synthetic = params.synthetic
        truth = synthetic_truth(
            n_features=synthetic.n_features,
            n_informative=synthetic.n_informative,
            n_categorical=synthetic.n_categorical,
            n_levels=synthetic.n_levels,
            random_state=params.random_state,
        )
        chunks = synthetic_chunks(
            truth,
            n_samples=synthetic.n_samples,
            noise=synthetic.noise,
            correlation=synthetic.correlation,
            chunk_size=synthetic.chunk_size,
            target=target,
            random_state=params.random_state,
        )
        return chunks, {"source": "synthetic", "noise": synthetic.noise, **truth}
    if params.source == "csv":
        frame = load_csv_source(params.csv.path, target=target)
    else:
        frame = load_diabetes_frame(target)
    return iter([frame]), {"source": params.source, "coef": None}
