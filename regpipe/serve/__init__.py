"""The prediction service: the registry's model over HTTP, every prediction logged for drift.

``python -m regpipe.serve serve`` (``make serve``) starts a FastAPI app under uvicorn;
``python -m regpipe.serve predict IN OUT`` scores a CSV/Parquet file with the same model and the
same validation. Settings come from the ``serve`` section of params.yaml, then environment
variables ``REGPIPE_SERVE_<KEY>``, then command-line flags.

Which model: the version assigned to ``serve.stage`` (default ``prod``) or ``serve.version`` in the
GTO registry, fetched through :func:`regpipe.registry.fetch_model`; when the repository has no
registry tag at all (or ``use_registry`` is false) the workspace champion, whose card must be the
one committed at HEAD and whose file must match that card. Either way the model is the skops file
loaded by :func:`regpipe.io.load_safe_model`: no model file is ever unpickled here.

Every prediction goes to the prediction log (``serve.log_path``), whose format
:mod:`regpipe.prediction_log` defines; with ``serve.log_required`` a prediction that cannot be
logged gets a 503, otherwise /health counts the failures.

One job per module: ``settings`` (params, variables, flags), ``schema`` (the request schema),
``model`` (a loaded model and its metadata), ``loading`` (which model, and why it is trusted),
``app`` (the FastAPI routes), ``batch`` (file scoring), ``cli`` (the command line).
"""

from regpipe.prediction_log import PredictionLog
from regpipe.serve.app import create_app
from regpipe.serve.batch import predict_file
from regpipe.serve.loading import load_served_model
from regpipe.serve.model import ServedModel
from regpipe.serve.schema import InputError, RecordValidator, parse_json
from regpipe.serve.settings import load_settings

__all__ = [
    "InputError",
    "PredictionLog",
    "RecordValidator",
    "ServedModel",
    "create_app",
    "load_served_model",
    "load_settings",
    "parse_json",
    "predict_file",
]
