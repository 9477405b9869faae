"""The request schema: what /predict and the batch command accept, and how a refusal is told."""

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Annotated, Any

import numpy as np
import pandas as pd
from pydantic import ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError
from typing_extensions import TypedDict

from regpipe.contract import normalise_category
from regpipe.errors import UserError

MAX_ERRORS_SHOWN = 20
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
