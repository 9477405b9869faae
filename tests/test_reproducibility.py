"""Reproducibility: BLAS thread pools are pinned before numpy loads, so float sums keep one order.

The byte-for-byte check itself is `.ci/run` (`dvc repro` from nothing on a clean clone, then
`git diff --exit-code dvc.lock metrics/`); README "Reproducibility guarantees" says what holds.
"""

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.process  # each test starts python

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

# What a stage does: import the library (which pins the pools), then use numpy's BLAS.
PROBE = """
import json
import regpipe.models
from threadpoolctl import threadpool_info
print(json.dumps(sorted({pool["num_threads"] for pool in threadpool_info()})))
"""


def blas_threads(**overrides: str) -> list[int]:
    env = {key: value for key, value in os.environ.items() if key not in THREAD_VARS}
    result = subprocess.run(
        [sys.executable, "-c", PROBE], env={**env, **overrides}, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_stages_run_blas_on_one_thread_by_default() -> None:
    assert blas_threads() == [1]


def test_thread_counts_set_by_the_user_are_respected() -> None:
    assert blas_threads(**dict.fromkeys(THREAD_VARS, "2")) == [2]
