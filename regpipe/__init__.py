"""regpipe: the library behind the DVC stages (data, contract, models, metrics, drift).

BLAS thread pools are pinned to one thread before numpy is imported anywhere: multi-threaded
reductions may sum in a different order from run to run, and that changes the last bits of a
float, which changes a model file's hash and makes ``dvc.lock`` lie. The data here is small
enough that one thread costs nothing. Set the variables yourself to override.
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
