"""Benchmark: the fast alpha search (regpipe.search) against GridSearchCV(Pipeline).

One process per measurement, so that peak memory (ru_maxrss) belongs to that measurement alone:

    python bench/search.py --rows 1000000 --method fast --model ridge
    python bench/search.py --all            # the table in bench/README.md (about 10 minutes)

Synthetic data: make_regression-like, 10 features, float64; 100 alphas, 10 unshuffled folds.
"""

import argparse
import json
import resource
import subprocess
import sys
import time
import tracemalloc

import numpy as np
from sklearn.model_selection import GridSearchCV, KFold

from regpipe.models import make_pipeline
from regpipe.search import search_alpha

N_FEATURES = 10
GRIDS = {"ridge": np.logspace(-3, 2, 100), "lasso": np.logspace(-3, 0, 100)}


def make_data(n_samples: int, random_state: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Generated in blocks so that building the data never needs more than X and y."""
    rng = np.random.default_rng(random_state)
    coef = np.where(np.arange(N_FEATURES) < 5, rng.normal(10, 3, N_FEATURES), 0.0)
    X = np.empty((n_samples, N_FEATURES))
    y = np.empty(n_samples)
    for start in range(0, n_samples, 1_000_000):
        block = slice(start, min(start + 1_000_000, n_samples))
        X[block] = rng.normal(size=(block.stop - block.start, N_FEATURES)) * 3 + 5
        y[block] = X[block] @ coef + rng.normal(scale=20, size=block.stop - block.start)
    return X, y


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(n_samples: int, method: str, model: str) -> dict:
    X, y = make_data(n_samples)
    one_pass = float("inf")
    for _ in range(3):  # the best of three, after BLAS has warmed up
        start = time.perf_counter()
        X.T @ X
        one_pass = min(one_pass, time.perf_counter() - start)
    cv = KFold(10)

    def run() -> float:
        if method == "fast":
            return search_alpha(model, X, y, alphas=GRIDS[model], cv=cv).alpha
        search = GridSearchCV(
            make_pipeline(model),
            {"model__alpha": list(GRIDS[model])},
            cv=cv,
            scoring="neg_root_mean_squared_error",
        ).fit(X, y)
        return search.best_params_["model__alpha"]

    start = time.perf_counter()
    alpha = run()
    seconds = time.perf_counter() - start
    # Memory in a second run: tracemalloc (numpy reports its buffers to it) slows Python code.
    tracemalloc.start()
    run()
    extra_mib = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    data_mib = (X.nbytes + y.nbytes) / 2**20
    return {
        "rows": n_samples,
        "method": method,
        "model": model,
        "seconds": round(seconds, 3),
        "one_pass_XtX_seconds": round(one_pass, 4),
        "ratio_to_one_pass": round(seconds / one_pass, 1),
        "data_MiB": round(data_mib, 1),
        "search_peak_extra_MiB": round(extra_mib, 1),
        "peak_ratio_to_data": round((data_mib + extra_mib) / data_mib, 2),
        "process_max_rss_MiB": round(peak_mib(), 1),
        "alpha": float(alpha),
    }


RUNS = [
    (100_000, "fast"),
    (100_000, "grid"),
    (1_000_000, "fast"),
    (10_000_000, "fast"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int)
    parser.add_argument("--method", choices=["fast", "grid"])
    parser.add_argument("--model", choices=["ridge", "lasso"], default="ridge")
    parser.add_argument("--all", action="store_true")
    args = parser.parse_args()
    if not args.all:
        print(json.dumps(measure(args.rows, args.method, args.model)))
        return
    for rows, method in RUNS:
        for model in ("ridge", "lasso"):
            command = [sys.executable, __file__, "--rows", str(rows), "--method", method]
            subprocess.run([*command, "--model", model], check=True)


if __name__ == "__main__":
    main()
