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

The prediction log (``serve.log_path``, rotated at ``log_max_bytes``) has one JSON object per
predicted record, so a batch request of n records writes n lines::

    {"timestamp": "2026-11-23T09:00:00.123456+00:00", "model_version": "v1.0.0",
     "inputs": {"age": 0.03, ...}, "prediction": 151.2}

``regpipe.drift.read_request_log`` turns it (rotated files included) into the frame the drift
stage takes as its current batch (``drift.current: logs/predictions.jsonl``). A write that fails
(disk full) is cut back so no partial line remains, and is never silent: with ``serve.log_required``
the request gets a 503, otherwise /health counts the failures.
"""

import argparse
import json
import os
import subprocess
import tempfile
import threading
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import orjson
import pandas as pd
from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError
from sklearn.preprocessing import StandardScaler
from starlette.concurrency import run_in_threadpool
from typing_extensions import TypedDict

from regpipe.contract import normalise_category
from regpipe.errors import UserError, run
from regpipe.form import add_form_page
from regpipe.io import load_safe_model, read_json, read_table, write_table
from regpipe.models import ESTIMATORS, categorical_levels
from regpipe.params import PARAMS_FILE, Serve, parse_section, parse_yaml, read_params_file
from regpipe.pipeline_paths import pipeline_paths

ENV_PREFIX = "REGPIPE_SERVE_"
# serve settings that default to a pipeline file -> its name in regpipe.pipeline_paths
PIPELINE_FILES = {
    "model": "safe_champion",
    "model_card": "model_card",
    "train_stats": "train_stats",
}
WORKSPACE_VERSION = "workspace"
MAX_ERRORS_SHOWN = 20
# Up to ~100 records: scored in well under a millisecond (bench/README.md), less than the hop to
# a worker thread costs, so on the event loop; larger bodies are scored in the threadpool.
INLINE_BODY_BYTES = 16 * 1024
RANGE_KEYS = ("min", "max", "mean", "std", "q01", "q99")
UNSEEN_LEVEL = (
    "labels are normalised as prepare does (trimmed, inner spaces single, lower case); a level "
    "not in `levels` is accepted and encoded as all zeros, like the first (reference) level: "
    "no other level's coefficient applies"
)
Label = Annotated[
    str,
    StringConstraints(pattern=r"\S"),
    Field(description="a category label (" + UNSEEN_LEVEL + ")"),
]
# What the model takes: a float64 array when every feature is numeric (the fast path), else a
# frame with the numeric columns as float64 and the categorical ones as str.
ModelInput = np.ndarray | pd.DataFrame


def load_settings(
    params_file: Path = PARAMS_FILE,
    environ: dict[str, str] | None = None,
    overrides: dict[str, Any] | None = None,
) -> Serve:
    """The ``serve`` section, then ``REGPIPE_SERVE_<KEY>`` variables, then flags, validated."""
    environ = os.environ if environ is None else environ
    raw = dict(read_params_file(params_file).get("serve") or {})
    for key in Serve.model_fields:
        name = ENV_PREFIX + key.upper()
        if (value := environ.get(name)) is not None:  # a YAML scalar, as in params.yaml
            raw[key] = parse_yaml(value, name) if value else None
    raw.update({key: value for key, value in (overrides or {}).items() if value is not None})
    return parse_section("serve", raw, Serve, f"{params_file} + {ENV_PREFIX}* + flags")


class InputError(UserError):
    """Client input refused; ``errors`` name each record and field, ``status`` is the HTTP code."""

    def __init__(self, message: str, errors: list[dict] | None = None, status: int = 422):
        super().__init__(message)
        self.errors = errors or []
        self.status = status

    def problems(self) -> list[str]:
        lines = [f"{e['loc']}: {e['message']}" for e in self.errors[:MAX_ERRORS_SHOWN]]
        more = len(self.errors) - MAX_ERRORS_SHOWN
        return [*lines, f"... and {more} more"] if more > 0 else lines

    def __str__(self) -> str:
        return "\n  ".join([self.args[0], *self.problems()])

    def detail(self) -> str:
        """One line for an HTTP answer: the message and the fields at fault."""
        return "; ".join([self.args[0], *self.problems()])


def record_type(features: Iterable[str], categorical: Iterable[str] = ()) -> type:
    """A TypedDict with one strict value per feature and no other key.

    Numeric features are finite floats: a string such as "0.1" or a boolean is refused instead
    of coerced; an integer is a number and is accepted; NaN and ±inf are refused. Categorical
    features are strings with at least one non-space character: a number is refused.
    """
    categorical = set(categorical)
    fields = {name: Label if name in categorical else float for name in features}
    record = TypedDict("Record", fields)  # noqa: UP013
    record.__pydantic_config__ = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)
    return record


def _located(error: dict, *, batch: bool, row_label: str) -> dict:
    loc = list(error["loc"])
    row = loc.pop(0) if batch and loc and isinstance(loc[0], int) else None
    name = ".".join(map(str, loc)) or None
    where = f"{row_label}[{row}]" if row is not None else ""
    where = f"{where}.{name}" if where and name else where or name or "body"
    message = "unknown feature" if error["type"] == "extra_forbidden" else error["msg"]
    return {"loc": where, "record": row, "field": name, "message": message}


@dataclass(frozen=True)
class RecordValidator:
    """The request schema of one model: what /predict and the batch command accept."""

    features: tuple[str, ...]
    categorical: frozenset[str] = frozenset()
    one: TypeAdapter = field(init=False)
    many: TypeAdapter = field(init=False)

    def __post_init__(self) -> None:
        record = record_type(self.features, self.categorical)
        object.__setattr__(self, "one", TypeAdapter(record))
        object.__setattr__(self, "many", TypeAdapter(list[record]))

    def validate(
        self, payload: object, *, max_batch: int | None, row_label: str = "records"
    ) -> ModelInput:
        """X (n_samples × n_features, in the model's feature order) from one record or a list.

        Category labels are normalised exactly as prepare normalises the training data.
        """
        batch = isinstance(payload, list)
        if not batch and not isinstance(payload, dict):
            raise InputError(
                f"the body must be a JSON object (one record: feature -> value) or an array of "
                f"records, not {type(payload).__name__}"
            )
        if batch and not payload:
            raise InputError("empty batch: send at least one record")
        if batch and max_batch is not None and len(payload) > max_batch:
            raise InputError(
                f"batch of {len(payload)} records is over the limit of {max_batch} "
                "(serve.max_batch)",
                status=413,
            )
        try:
            records = (
                self.many.validate_python(payload) if batch else [self.one.validate_python(payload)]
            )
        except ValidationError as error:
            errors = [_located(e, batch=batch, row_label=row_label) for e in error.errors()]
            raise InputError("invalid input", errors) from None
        if not self.categorical:
            return np.array([[record[name] for name in self.features] for record in records], float)
        X = pd.DataFrame.from_records(records, columns=list(self.features))
        numeric = [name for name in self.features if name not in self.categorical]
        return X.astype(dict.fromkeys(numeric, np.float64)).assign(
            **{name: normalise_category(X[name]) for name in self.categorical}
        )

    def records(self, X: ModelInput) -> list[dict]:
        """X back as one dict per record (feature -> value), as the prediction log keeps it."""
        if isinstance(X, pd.DataFrame):
            return X.to_dict("records")
        return [dict(zip(self.features, row, strict=True)) for row in X.tolist()]

    def json_schema(self, max_batch: int) -> dict:
        """OpenAPI: one record, or an array of 1..max_batch records."""
        one = self.one.json_schema()
        one.pop("title", None)
        many = {"type": "array", "items": one, "minItems": 1, "maxItems": max_batch}
        return {"oneOf": [one, many]}


def linear_form(model: Any, training_stats: dict) -> tuple[np.ndarray, float] | None:
    """The model as ``X @ coef + intercept`` when it is StandardScaler + one of our linear models,
    after an encoder that selected no categorical column (it then passes X through unchanged).

    Scaling then a linear model is one affine map; applying it directly skips scikit-learn's
    per-call input checks and the DataFrame, which cost ~50x the arithmetic for one record (the
    service's latency goal). It is used only if it reproduces ``model.predict`` on probe rows made
    of the training statistics (min, max, mean, ...); any other model goes through ``predict``.
    """
    if categorical_levels(model):
        return None
    steps = [step for name, step in getattr(model, "steps", []) if name != "encoder"]
    if len(steps) != 2 or type(steps[0]) is not StandardScaler:
        return None
    scaler, estimator = steps
    if type(estimator) not in ESTIMATORS.values() or np.ndim(estimator.coef_) != 1:
        return None
    mean = scaler.mean_ if scaler.with_mean else 0.0
    scale = scaler.scale_ if scaler.with_std else 1.0
    coef = np.asarray(estimator.coef_ / scale, float)
    intercept = float(estimator.intercept_ - np.sum(mean * coef))
    names = [str(name) for name in model.feature_names_in_]
    probe = pd.DataFrame(
        [[training_stats.get(name, {}).get(key, 0.0) for name in names] for key in RANGE_KEYS],
        columns=names,
    )
    expected = model.predict(probe)
    if not np.allclose(probe.to_numpy() @ coef + intercept, expected, rtol=1e-9, atol=1e-9):
        return None
    return coef, intercept


@dataclass(frozen=True)
class ServedModel:
    """A loaded model and what /health and /metadata say about it."""

    model: Any
    name: str
    version: str
    stage: str | None
    source: str
    git_revision: str | None
    sha256: str  # the joblib's, as the card and `dvc artifacts get` name the model
    card: dict
    training_stats: dict
    note: str | None
    loaded_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    levels: dict[str, list[str]] = field(init=False)
    validator: RecordValidator = field(init=False)
    linear: tuple[np.ndarray, float] | None = field(init=False)

    def __post_init__(self) -> None:
        names = getattr(self.model, "feature_names_in_", None)
        if names is None:
            raise UserError(f"model {self.name} {self.version} was fitted without feature names")
        levels = categorical_levels(self.model)
        validator = RecordValidator(tuple(map(str, names)), frozenset(levels))
        object.__setattr__(self, "levels", levels)
        object.__setattr__(self, "validator", validator)
        object.__setattr__(self, "linear", linear_form(self.model, self.training_stats))

    @property
    def features(self) -> tuple[str, ...]:
        return self.validator.features

    def predict(self, X: ModelInput) -> np.ndarray:
        """Predictions for valid X; inputs so large that the model overflows are refused."""
        too_far = "values far outside the training ranges (GET /metadata) overflow the model"
        with np.errstate(over="ignore", invalid="ignore"):
            try:
                y = self._predict(X)
            except ValueError as error:  # scikit-learn refuses the overflowed, scaled input
                raise InputError(f"{too_far}: {error}") from None
        bad = np.flatnonzero(~np.isfinite(y))
        if bad.size:
            raise InputError(
                too_far,
                [
                    {
                        "loc": f"records[{i}]",
                        "record": int(i),
                        "field": None,
                        "message": "non-finite prediction",
                    }
                    for i in bad[:MAX_ERRORS_SHOWN]
                ],
            )
        return y

    def _predict(self, X: ModelInput) -> np.ndarray:
        if self.linear is not None:
            coef, intercept = self.linear
            return X @ coef + intercept
        if isinstance(X, np.ndarray):
            X = pd.DataFrame(X, columns=list(self.features))
        return self.model.predict(X)

    def health(self) -> dict:
        return {
            "status": "ok",
            "model": self.name,
            "estimator": self.card.get("model"),
            "version": self.version,
            "stage": self.stage,
            "source": self.source,
            "git_revision": self.git_revision,
            "sha256": self.sha256,
            "skops_sha256": self.card.get("skops_sha256"),
            "loaded_at": self.loaded_at,
            "note": self.note,
        }

    def feature(self, name: str) -> dict:
        """One feature for /metadata: its type and what training saw of it."""
        stats = self.training_stats.get(name, {})
        if name in self.levels:
            return {
                "name": name,
                "type": "category",
                "levels": self.levels[name],
                "unseen_levels": UNSEEN_LEVEL,
                "training": {"frequencies": stats.get("frequencies")},
            }
        return {
            "name": name,
            "type": "number",
            "training": {key: stats.get(key) for key in RANGE_KEYS},
        }

    def metadata(self) -> dict:
        features = [self.feature(name) for name in self.features]
        return {
            **{k: v for k, v in self.health().items() if k != "status"},
            "features": features,
            "test_metrics": self.card.get("test_metrics"),
            "baseline_metrics": self.card.get("baseline_metrics"),
            "gate": self.card.get("gate"),
            "alpha": self.card.get("alpha"),
            "coef": self.card.get("coef"),
        }


def git_revision(repo: Path) -> str | None:
    """HEAD of ``repo``, or None outside a git checkout (a container with a mounted model)."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return result.stdout.strip()


def committed_card(repo: Path, card_path: str) -> dict:
    """The workspace's model card, refused unless it is the one committed at HEAD.

    The card names the model file's hash, so trusting an uncommitted card would trust any file.
    Outside a git checkout (a container with a mounted model and card) the mounted card is what
    the operator chose to trust.
    """
    workspace_card = read_json(repo / card_path)
    if git_revision(repo) is None:
        return workspace_card
    shown = subprocess.run(
        ["git", "show", f"HEAD:./{card_path}"], cwd=repo, capture_output=True, text=True
    )
    if shown.returncode != 0:
        raise UserError(
            f"{card_path}: not committed at HEAD: --workspace trusts only the model card in git; "
            "commit the pipeline's outputs first"
        )
    card = json.loads(shown.stdout)
    if card != workspace_card:
        raise UserError(
            f"{card_path}: differs from the card committed at HEAD, which is the only one "
            "--workspace trusts: commit it, or `git checkout` it and `dvc checkout`"
        )
    return card


def pipeline_files(settings: Serve, repo: Path, rev: str | None = None) -> Serve:
    """``settings`` with the files left null (model, card, training statistics) filled in from
    the pipeline's dvc.yaml (the workspace's, or at ``rev``)."""
    unset = [
        key for key in ("model", "model_card", "train_stats") if getattr(settings, key) is None
    ]
    if not unset:
        return settings
    paths = pipeline_paths(repo, rev)
    return settings.model_copy(update={key: getattr(paths, PIPELINE_FILES[key]) for key in unset})


def load_served_model(settings: Serve, repo: Path = Path(".")) -> ServedModel:
    """The model to serve: the registry's (stage or version), else the workspace champion."""
    if not settings.use_registry:
        note = "serve.use_registry is false: serving the workspace champion"
    else:
        from regpipe.registry import NoRegisteredVersion, fetch_model, read_output

        stage = None if settings.version else settings.stage
        signers = repo / settings.allowed_signers if settings.allowed_signers else None
        try:
            with tempfile.TemporaryDirectory(prefix="regpipe-serve-") as out_dir:
                ref = fetch_model(
                    repo,
                    stage=stage,
                    version=settings.version,
                    out_dir=out_dir,
                    allowed_signers=signers,
                )
        except NoRegisteredVersion as error:
            if settings.version or signers:  # a trust root never falls back to unsigned files
                raise
            note = f"{error}: serving the workspace champion"
        else:
            # The version's own training statistics: a fresh clone has no workspace outputs.
            tag = f"{ref.name}@{ref.version}"
            stats_path = pipeline_files(settings, repo, rev=ref.rev).train_stats
            stats = read_output(repo, stats_path, rev=ref.rev, tag=tag)
            return ServedModel(
                model=ref.model,
                name=ref.name,
                version=ref.version,
                stage=ref.stage,
                source="registry",
                git_revision=ref.rev,
                sha256=ref.card["sha256"],
                card=ref.card,
                training_stats=json.loads(stats),
                note=None,
            )
    settings = pipeline_files(settings, repo)
    training_stats = read_json(repo / settings.train_stats)
    card = committed_card(repo, settings.model_card)
    if not card.get("skops_sha256"):
        raise UserError(
            f"{settings.model_card}: no skops_sha256: the card predates the skops model; "
            "run `dvc repro` and commit"
        )
    try:
        model = load_safe_model(repo / settings.model, sha256=card["skops_sha256"])
    except UserError as error:
        raise UserError(f"{error} (the card committed at HEAD)") from None
    return ServedModel(
        model=model,
        name=card.get("artifact", Path(settings.model).stem),
        version=WORKSPACE_VERSION,
        stage=None,
        source="workspace",
        git_revision=git_revision(repo),
        sha256=card["sha256"],
        card=card,
        training_stats=training_stats,
        note=note,
    )


class LogWriteError(UserError):
    """A request's predictions could not all be written to the prediction log."""


class PredictionLog:
    """The JSON-lines prediction log, rotated by size as logging's RotatingFileHandler names the
    files (path.1 .. path.N, oldest last), one append per request.

    A write that fails part-way (disk full, file size limit) is cut back to where it began, so the
    log holds only whole lines, and raises :class:`LogWriteError`; ``failures`` counts them.
    """

    def __init__(self, path: Path, *, max_bytes: int, backups: int):
        self.path, self.max_bytes, self.backups = path, max_bytes, backups
        self.failures = 0
        self.last_error: str | None = None
        self.failing = False
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            os.close(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666))
        except OSError as error:
            raise UserError(f"{path}: cannot open the prediction log: {error.strerror}") from None

    def _rotate(self) -> None:
        for number in range(self.backups - 1, 0, -1):
            older = Path(f"{self.path}.{number}")
            if older.exists():
                os.replace(older, f"{self.path}.{number + 1}")
        os.replace(self.path, f"{self.path}.1")

    def _append(self, data: bytes) -> None:
        with suppress(FileNotFoundError):
            size = self.path.stat().st_size
            if size and size + len(data) > self.max_bytes:
                self._rotate()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            start = os.fstat(fd).st_size
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            except OSError:
                os.ftruncate(fd, start)  # no partial line is left for the drift reader
                raise
        finally:
            os.close(fd)

    def write(self, served: ServedModel, X: ModelInput, y: np.ndarray) -> None:
        timestamp = datetime.now(UTC).isoformat()
        lines = [
            orjson.dumps(
                {
                    "timestamp": timestamp,
                    "model_version": served.version,
                    "inputs": inputs,
                    "prediction": prediction,
                }
            ).decode()
            for inputs, prediction in zip(served.validator.records(X), y.tolist(), strict=True)
        ]
        data = ("\n".join(lines) + "\n").encode()
        with self._lock:
            try:
                self._append(data)
            except OSError as error:
                self.failures += 1
                self.failing = True
                self.last_error = f"{self.path}: {error.strerror or error}"
                raise LogWriteError(
                    f"the prediction log failed ({self.last_error}): {len(lines)} predictions "
                    "not logged"
                ) from None
            self.failing = False

    def health(self) -> dict:
        """What /health says about the log: failed writes since start, and whether the last did."""
        return {
            "log_failures": self.failures,
            "log_failing": self.failing,
            "log_error": self.last_error,
        }


class Problem(BaseModel):
    loc: str
    record: int | None
    field: str | None
    message: str


class ErrorBody(BaseModel):
    detail: str
    errors: list[Problem] = []


class Predictions(BaseModel):
    model: str
    model_version: str
    predictions: list[float]


class Health(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    status: str
    model: str | None = None
    estimator: str | None = None
    version: str | None = None
    stage: str | None = None
    source: str | None = None
    git_revision: str | None = None
    sha256: str | None = None
    skops_sha256: str | None = None
    loaded_at: str | None = None
    note: str | None = None
    error: str | None = None
    log_failures: int = 0
    log_failing: bool = False
    log_error: str | None = None


ERRORS = {code: {"model": ErrorBody} for code in (400, 413, 415, 422, 503)}


def _error(status: int, detail: str, errors: list[dict] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail, "errors": errors or []}, status_code=status)


class Service:
    """The model being served and the prediction log; /reload swaps ``current`` under a lock.

    A request reads ``current`` once and uses that model to the end, so a reload never changes
    the model under a request in flight, and no request waits for a reload to finish.
    """

    def __init__(self, settings: Serve, repo: Path):
        self.settings = settings
        self.repo = repo
        self.current: ServedModel | None = None
        self.last_error: str | None = None
        self._reload_lock = threading.Lock()
        self.log = PredictionLog(
            repo / settings.log_path,
            max_bytes=settings.log_max_bytes,
            backups=settings.log_backups,
        )

    def reload(self) -> ServedModel:
        """Load the model now assigned to the stage and make it current; on error keep the old."""
        with self._reload_lock:
            try:
                served = load_served_model(self.settings, self.repo)
            except UserError as error:
                self.last_error = str(error)
                raise
            except Exception as error:  # a model that cannot be loaded must not stop the service
                self.last_error = f"{type(error).__name__}: {error}"
                raise UserError(self.last_error) from error
            self.current, self.last_error = served, None
            return served


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refused (413) as soon as Content-Length or the streamed bytes pass ``limit``."""
    length = request.headers.get("content-length")
    if length is not None:
        if not length.isdigit():
            raise InputError(f"bad Content-Length header {length!r}", status=400)
        if int(length) > limit:
            raise InputError(
                f"body of {length} bytes is over the limit of {limit} (serve.max_body_bytes)",
                status=413,
            )
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise InputError(
                f"body is over the limit of {limit} bytes (serve.max_body_bytes)", status=413
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number this service accepts")


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    mapping = dict(pairs)
    if len(mapping) != len(pairs):
        seen = [key for key, _ in pairs]
        duplicated = sorted({key for key in seen if seen.count(key) > 1})
        raise ValueError(f"duplicate key(s) {duplicated}")
    return mapping


def parse_json(body: bytes) -> object:
    """JSON without NaN/Infinity literals or duplicate keys; anything else unreadable is a 400."""
    if not body:
        raise InputError("empty body: send a JSON record or an array of records", status=400)
    try:
        return json.loads(
            body, parse_constant=_refuse_constant, object_pairs_hook=_refuse_duplicates
        )
    except (ValueError, RecursionError) as error:
        raise InputError(f"body is not valid JSON: {error}", status=400) from None


def create_app(settings: Serve, repo: Path = Path(".")) -> FastAPI:
    """The FastAPI app; the model is loaded at start-up (a failure leaves /health at 503)."""
    service = Service(settings, repo)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # On failure /health reports service.last_error with a 503, and POST /reload retries.
        with suppress(UserError):
            await run_in_threadpool(service.reload)
        yield

    app = FastAPI(
        title="regpipe prediction service",
        description=__doc__.split("\n\n")[0],
        version="1",
        lifespan=lifespan,
    )
    app.state.service = service

    @app.exception_handler(InputError)
    async def invalid_input(request: Request, error: InputError) -> JSONResponse:
        return _error(error.status, error.detail(), error.errors)

    @app.get("/health", response_model=Health, responses={503: {"model": Health}})
    async def health() -> JSONResponse:
        served = service.current
        if served is None:
            return JSONResponse(
                {"status": "no model", "error": service.last_error, **service.log.health()},
                status_code=503,
            )
        status = {"status": "degraded"} if service.log.failing else {}
        return JSONResponse({**served.health(), **service.log.health(), **status})

    @app.get("/metadata", responses={503: {"model": ErrorBody}})
    async def metadata() -> JSONResponse:
        served = service.current
        if served is None:
            return _error(503, f"no model loaded: {service.last_error}")
        return JSONResponse(served.metadata())

    @app.post("/predict", response_model=Predictions, responses=ERRORS)
    async def predict(request: Request) -> JSONResponse:
        served = service.current
        if served is None:
            return _error(503, f"no model loaded: {service.last_error}")
        content_type = request.headers.get("content-type", "")
        if content_type.split(";")[0].strip().lower() != "application/json":
            return _error(415, f"content type {content_type!r}: send application/json")
        body = await _read_body(request, settings.max_body_bytes)
        if len(body) <= INLINE_BODY_BYTES:
            return score(served, body)
        # Parsing, validating and scoring a large batch takes milliseconds of CPU: a worker thread
        # does it, so the event loop keeps answering /health and other requests meanwhile.
        return await run_in_threadpool(score, served, body)

    def score(served: ServedModel, body: bytes) -> Response:
        payload = parse_json(body)
        X = served.validator.validate(payload, max_batch=settings.max_batch)
        y = served.predict(X)
        try:
            service.log.write(served, X, y)
        except LogWriteError as error:
            if settings.log_required:
                return _error(503, f"{error}; no prediction returned (serve.log_required)")
        answer = {"model": served.name, "model_version": served.version, "predictions": y.tolist()}
        return Response(orjson.dumps(answer), media_type="application/json")

    @app.post("/reload", response_model=Health, responses={409: {"model": ErrorBody}})
    async def reload() -> JSONResponse:
        previous = service.current
        try:
            served = await run_in_threadpool(service.reload)
        except UserError as error:
            still = f"; still serving {previous.version}" if previous else ""
            return _error(409, f"reload failed{still}: {error}")
        return JSONResponse(served.health())

    def openapi() -> dict:
        """The schema, with /predict's body built from the current model's features."""
        schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
        if service.current is not None:
            body = service.current.validator.json_schema(settings.max_batch)
            schema["paths"]["/predict"]["post"]["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": body}},
            }
        return schema

    app.openapi = openapi
    add_form_page(app)
    return app


def predict_file(settings: Serve, source: Path, destination: Path, repo: Path = Path(".")) -> str:
    """Score a CSV/Parquet table with the served model and the service's validation.

    The output is the input table plus ``prediction`` and ``model_version`` columns.
    """
    served = load_served_model(settings, repo)
    frame = read_table(source)
    try:
        X = served.validator.validate(frame.to_dict("records"), max_batch=None, row_label="row")
    except InputError as error:
        raise InputError(f"{source}: {error.args[0]}", error.errors) from None
    y = served.predict(X)
    write_table(frame.assign(prediction=y, model_version=served.version), destination)
    return served.version


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m regpipe.serve", description=__doc__.split("\n\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="start the HTTP service")
    predict = commands.add_parser("predict", help="score a CSV/Parquet file")
    predict.add_argument("source", type=Path)
    predict.add_argument("destination", type=Path)
    for command in (serve, predict):
        command.add_argument("--params", type=Path, default=PARAMS_FILE)
        command.add_argument("--stage")
        command.add_argument("--version", dest="version")
        command.add_argument("--workspace", action="store_true", help="skip the registry")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--log-path")
    args = parser.parse_args()

    overrides = {"stage": args.stage, "version": args.version}
    if args.workspace:
        overrides["use_registry"] = False
    if args.command == "predict":
        settings = load_settings(args.params, overrides=overrides)
        version = predict_file(settings, args.source, args.destination)
        print(f"predict: {args.source} -> {args.destination} with model {version}")
        return
    import uvicorn

    overrides |= {"host": args.host, "port": args.port, "log_path": args.log_path}
    settings = load_settings(args.params, overrides=overrides)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        access_log=False,
        log_level="info",
    )


if __name__ == "__main__":
    run(main)
