"""The prediction service: the registry's model over HTTP, every prediction logged for drift.

The FastAPI app and its routes: /health, /metadata, /predict, /reload, the form page."""

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path

import orjson
from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict
from starlette.concurrency import run_in_threadpool

from regpipe.errors import UserError
from regpipe.form import add_form_page
from regpipe.params import Serve
from regpipe.prediction_log import LogWriteError, PredictionLog
from regpipe.serve.loading import load_served_model
from regpipe.serve.model import ServedModel
from regpipe.serve.schema import InputError, parse_json

# Up to ~100 records: scored in well under a millisecond (bench/README.md), less than the hop to
# a worker thread costs, so on the event loop; larger bodies are scored in the threadpool.
INLINE_BODY_BYTES = 16 * 1024


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
        predictions = served.predict(X).tolist()
        try:
            service.log.write(served.version, served.validator.records(X), predictions)
        except LogWriteError as error:
            if settings.log_required:
                return _error(503, f"{error}; no prediction returned (serve.log_required)")
        answer = {"model": served.name, "model_version": served.version, "predictions": predictions}
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
