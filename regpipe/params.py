"""Declared schemas for every section of params.yaml, checked before a stage computes anything.

Each stage calls :func:`load_params` with its own section name and gets a frozen, validated
object back. A missing, mistyped or out-of-range key stops the stage with a message that names
the key and the valid range, as scikit-learn's ``_parameter_constraints`` do for estimators.
"""

from pathlib import Path
from typing import Annotated, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from regpipe.errors import UserError

PARAMS_FILE = Path("params.yaml")

PositiveInt = Annotated[int, Field(ge=1)]
Seed = Annotated[int, Field(ge=0, le=2**32 - 1)]
# 10**-10 .. 10**10: wider than any useful penalty, narrow enough that 10**x stays a positive float
Log10Alpha = Annotated[float, Field(ge=-10, le=10)]


class Section(BaseModel):
    """A params.yaml section: unknown keys are errors, values are immutable once read, and a float
    is never NaN or infinite (`.nan` and `.inf` are valid YAML)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class CurrentBatch(Section):
    """The production-like batch that the drift stage compares with the training data."""

    n_samples: PositiveInt
    shift_sd: dict[str, float] = Field(
        default_factory=dict, description="feature -> shift in standard deviations"
    )


class Generate(Section):
    random_state: Seed
    current: CurrentBatch


class Prepare(Section):
    target: Annotated[str, Field(min_length=1)]
    features: Annotated[list[str], Field(min_length=1)]
    test_size: Annotated[float, Field(gt=0, lt=1)]
    random_state: Seed

    @model_validator(mode="after")
    def _distinct_columns(self) -> "Prepare":
        columns = [*self.features, self.target]
        repeated = sorted({c for c in columns if columns.count(c) > 1})
        if repeated:
            raise ValueError(f"columns listed twice in features/target: {repeated}")
        return self


class CrossValidation(Section):
    n_splits: Annotated[int, Field(ge=2)]
    shuffle: bool
    random_state: Seed


class AlphaGrid(Section):
    """``num`` alphas spaced evenly on a log scale from 10**log10_start to 10**log10_stop."""

    log10_start: Log10Alpha
    log10_stop: Log10Alpha
    num: Annotated[int, Field(ge=1, le=10_000)]  # each alpha costs a full K-fold search

    @model_validator(mode="after")
    def _ordered(self) -> "AlphaGrid":
        if self.log10_stop < self.log10_start:
            raise ValueError("log10_stop must be >= log10_start")
        return self


class TrainOLS(Section):
    cv: CrossValidation


class TrainRidge(Section):
    alpha: Annotated[float, Field(gt=0)] | None = Field(
        description="a fixed alpha, or null to choose it by cross-validation over alpha_grid"
    )
    alpha_grid: AlphaGrid
    cv: CrossValidation


class TrainLasso(TrainRidge):
    max_iter: PositiveInt


class Gate(Section):
    """The champion may be promoted only if both hold."""

    min_improvement: Annotated[float, Field(ge=0, lt=1)] = Field(
        description="fraction by which test RMSE must beat the mean baseline's"
    )
    min_r2: Annotated[float, Field(le=1)]


class Evaluate(Section):
    plot_max_points: PositiveInt
    gate: Gate


class Drift(Section):
    p_value: Annotated[float, Field(gt=0, lt=1)]
    drift_share: Annotated[float, Field(gt=0, le=1)]


SECTIONS: dict[str, type[Section]] = {
    "generate": Generate,
    "prepare": Prepare,
    "train_ols": TrainOLS,
    "train_ridge": TrainRidge,
    "train_lasso": TrainLasso,
    "evaluate": Evaluate,
    "drift": Drift,
}

S = TypeVar("S", bound=Section)


def read_params_file(path: Path = PARAMS_FILE) -> dict:
    """The raw params mapping; refuses a file that is missing, not YAML, or has unknown sections."""
    try:
        raw = yaml.safe_load(path.read_bytes())  # bytes: a bad encoding is a YAMLError too
    except FileNotFoundError:
        raise UserError(f"{path}: file not found (run from the repository root)") from None
    except yaml.YAMLError as error:
        raise UserError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(raw, dict):
        raise UserError(f"{path}: expected a mapping of sections, got {type(raw).__name__}")
    unknown = sorted(set(raw) - set(SECTIONS))
    if unknown:
        raise UserError(f"{path}: unknown section(s) {unknown}; valid sections: {sorted(SECTIONS)}")
    return raw


def parse_section(name: str, raw: object, schema: type[S], source: str = str(PARAMS_FILE)) -> S:
    """Validate one section's mapping against its schema, with errors naming each bad key."""
    try:
        return schema.model_validate(raw if raw is not None else {})
    except ValidationError as error:
        problems = []
        for item in error.errors():
            key = ".".join([name, *map(str, item["loc"])])
            shown = "" if item["type"] == "missing" else f" (got {item['input']!r})"
            problems.append(f"  {key}: {item['msg']}{shown}")
        raise UserError(f"{source}: invalid params\n" + "\n".join(problems)) from None


def load_params(name: str, path: Path = PARAMS_FILE) -> Section:
    """The validated section ``name`` of params.yaml."""
    if name not in SECTIONS:
        raise UserError(f"unknown params section {name!r}; valid sections: {sorted(SECTIONS)}")
    raw = read_params_file(path)
    if name not in raw:
        raise UserError(f"{path}: section {name!r} is missing")
    return parse_section(name, raw[name], SECTIONS[name], str(path))
