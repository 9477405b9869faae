"""Declared schemas for every section of params.yaml, checked before a stage computes anything.

Each stage calls :func:`load_params` with its own section name and gets a frozen, validated
object back. A missing, mistyped or out-of-range key stops the stage with a message that names
the key and the valid range, as scikit-learn's ``_parameter_constraints`` do for estimators.

params.yaml is read as DVC reads it (ruamel.yaml, YAML 1.2), so a stage sees the values that
`dvc params diff` shows: ``017`` is 17, ``1:30`` a string, ``yes`` a string. Types are strict
(``true`` is not the number 1), a duplicated key or an alias (``*name``, the billion-laughs
vector) is refused, and no message quotes more than a few hundred characters of a value.
"""

import reprlib
from pathlib import Path
from typing import Annotated, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from regpipe.errors import UserError

PARAMS_FILE = Path("params.yaml")
MAX_SHOWN_CHARS = 200  # of a value quoted in an error message

PositiveInt = Annotated[int, Field(ge=1)]
Seed = Annotated[int, Field(ge=0, le=2**32 - 1)]
# 10**-10 .. 10**10: wider than any useful penalty, narrow enough that 10**x stays a positive float
Log10Alpha = Annotated[float, Field(ge=-10, le=10)]


class Section(BaseModel):
    """A params.yaml section: unknown keys are errors, values are immutable once read, a float
    is never NaN or infinite (`.nan` and `.inf` are valid YAML), and types are strict: a boolean
    is not a number, a number not a string."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, strict=True)


Share = Annotated[float, Field(ge=0, le=1)]


class Relabel(Section):
    """Concept drift: the target moves with some inputs while the inputs stay as they were."""

    target: Annotated[str, Field(min_length=1)]
    slope_sd: Annotated[dict[str, float], Field(min_length=1)] = Field(
        description="feature -> target standard deviations added per feature standard deviation"
    )


class CurrentBatch(Section):
    """The production-like batch that the drift stage compares with the training data."""

    n_samples: PositiveInt
    shift_sd: dict[str, float] = Field(
        default_factory=dict, description="feature -> shift in standard deviations"
    )
    scale: dict[str, Annotated[float, Field(gt=0)]] = Field(
        default_factory=dict, description="feature -> factor on its spread around the mean"
    )
    category_proportions: dict[str, dict[str, Share]] = Field(
        default_factory=dict, description="column -> {level: share of the batch}"
    )
    missing_rate: dict[str, Share] = Field(
        default_factory=dict, description="column -> share of values replaced by NaN"
    )
    relabel: Relabel | None = None


class Synthetic(Section):
    """A linear regression problem with a sparse known truth, written in chunks of rows."""

    n_samples: PositiveInt
    n_features: Annotated[int, Field(ge=1, le=1000)]
    n_informative: Annotated[int, Field(ge=0)] = Field(
        description="how many of the numeric features have a non-zero coefficient"
    )
    noise: Annotated[float, Field(ge=0)] = Field(description="std of the Gaussian noise on y")
    correlation: Annotated[float, Field(ge=0, lt=1)] = Field(
        0.0, description="correlation between neighbouring features (AR(1): rho**|i-j|)"
    )
    n_categorical: Annotated[int, Field(ge=0, le=100)] = 0
    n_levels: Annotated[int, Field(ge=2, le=26)] = 3
    chunk_size: Annotated[int, Field(ge=1000)] = 1_000_000

    @model_validator(mode="after")
    def _informative_within_features(self) -> "Synthetic":
        if self.n_informative > self.n_features:
            raise ValueError(
                f"n_informative={self.n_informative} must be <= n_features={self.n_features}"
            )
        return self


class CsvSource(Section):
    """A user's CSV file, a DVC dependency of generate; its target column is ``prepare.target``."""

    path: Annotated[str, Field(min_length=1)]


class Generate(Section):
    """Which source generate reads; the other sources' keys are validated but not used."""

    source: Literal["diabetes", "synthetic", "csv"]
    random_state: Seed
    synthetic: Synthetic
    csv: CsvSource
    current: CurrentBatch


Policy = Literal["fail", "fix"]


class OnViolation(Section):
    """Per contract check: ``fail`` stops the pipeline, ``fix`` repairs and counts the repair."""

    types: Policy = Field(description="a value that is not of the column's type -> missing")
    finite: Policy = Field(description="an infinite number -> missing")
    range: Policy = Field(description="outside the contract's range -> clipped (levels: missing)")
    missing: Policy = Field(description="above max_missing -> imputed with the train median/mode")
    duplicates: Literal["keep", "fail", "fix"] = Field(
        description="a repeated row: keep (counted in the report; real surveys repeat), "
        "fail, or fix (dropped)"
    )
    target: Policy = Field(description="target missing or infinite -> row dropped")


class Prepare(Section):
    target: Annotated[str, Field(min_length=1)]
    test_size: Annotated[float, Field(gt=0, lt=1)]
    random_state: Seed
    min_rows: Annotated[int, Field(ge=3)] = Field(description="rows left after the fixes")
    max_missing: Annotated[float, Field(ge=0, le=1)] = Field(
        description="missing rate of a column inferred into a new contract"
    )
    on_violation: OnViolation
    max_listed_violations: Annotated[int, Field(ge=0)] = Field(
        description="violations listed one by one in metrics/data_quality.json"
    )
    min_test_rows: Annotated[int, Field(ge=1)] = Field(
        10, description="a test split smaller than this stops prepare (a verdict on few rows)"
    )
    drop_columns: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=list, description="columns left out of the features (ids, leaks)"
    )
    detect_ids: bool = Field(
        True, description="leave identifier-like columns (unique per row, row counters) out"
    )
    max_levels: Annotated[int, Field(ge=2)] = Field(
        50, description="levels a text column may have to be inferred categorical"
    )
    chunk_rows: Annotated[int, Field(ge=1)] = Field(
        1_000_000, description="rows read, checked and written at a time: bounds the memory"
    )

    @model_validator(mode="after")
    def _target_kept(self) -> "Prepare":
        if self.target in self.drop_columns:
            raise ValueError(f"the target {self.target!r} cannot be in drop_columns")
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


class NoEstimatorKnobs(Section):
    """OLS and Ridge: the fit has no knob of its own besides alpha (an empty block)."""


class LassoKnobs(Section):
    """Lasso's own knobs: the coordinate-descent sweeps allowed in the final fit."""

    max_iter: PositiveInt


class TrainOLS(Section):
    cv: CrossValidation
    estimator: NoEstimatorKnobs = Field(description="the estimator's own knobs: passed as they are")


class TrainRidge(Section):
    alpha: Annotated[float, Field(gt=0)] | None = Field(
        description="a fixed alpha, or null to choose it by cross-validation over alpha_grid"
    )
    alpha_grid: AlphaGrid
    alpha_rule: Literal["min", "one_se"] = Field(
        description="min: lowest mean CV RMSE; one_se: the largest alpha within one standard "
        "error of it (the simplest model the data cannot tell apart from the best)"
    )
    cv: CrossValidation
    estimator: NoEstimatorKnobs = Field(description="the estimator's own knobs besides alpha")


class TrainLasso(TrainRidge):
    estimator: LassoKnobs = Field(description="the estimator's own knobs besides alpha")


class Gate(Section):
    """The champion may be promoted only if both hold."""

    min_improvement: Annotated[float, Field(ge=0, lt=1)] = Field(
        description="fraction by which test RMSE must beat the mean baseline's"
    )
    min_r2: Annotated[float, Field(le=1)]


class Evaluate(Section):
    plot_max_points: PositiveInt
    cv: CrossValidation = Field(description="folds for the cross-validated leaderboard metrics")
    n_bootstrap: Annotated[int, Field(ge=2)] = Field(
        description="bootstrap refits per model for the bias/variance decomposition"
    )
    random_state: Seed
    gate: Gate


class ColumnTest(Section):
    """Per-column override of the test the drift stage would choose, or of its threshold."""

    test: Literal["ks", "chisquare", "z", "wasserstein", "jensenshannon", "psi"] | None = None
    threshold: Annotated[float, Field(gt=0)] | None = None


class PSI(Section):
    n_bins: Annotated[int, Field(ge=2)]
    epsilon: Annotated[float, Field(gt=0, lt=0.1)] = Field(description="share given to empty bins")
    bands: tuple[Annotated[float, Field(gt=0)], Annotated[float, Field(gt=0)]] = Field(
        strict=False  # YAML has lists, not tuples; a boolean is still refused as a float
    )

    @model_validator(mode="after")
    def _ordered(self) -> "PSI":
        if self.bands[1] <= self.bands[0]:
            raise ValueError("bands must be [moderate, significant] with moderate < significant")
        return self


class Concept(Section):
    max_rmse_increase: Annotated[float, Field(ge=0)] = Field(
        description="concept drift when the RMSE interval's lower end exceeds test RMSE x (1 + it)"
    )
    n_bootstrap: Annotated[int, Field(ge=100)]
    confidence: Annotated[float, Field(gt=0.5, lt=1)]
    random_state: Seed


class ReferenceSample(Section):
    """A reference longer than ``rows`` is summarised in one pass (regpipe.drift.reference)."""

    rows: Annotated[int, Field(ge=10_000)] = Field(
        description="reference rows held at most: exact counts, plus a sample of this many rows"
    )
    random_state: Seed


class Drift(Section):
    current: Annotated[str, Field(min_length=1)] = Field(
        description="the batch to check: CSV/Parquet, or the service's JSON-lines request log"
    )
    small_reference: PositiveInt = Field(
        description="either side (reference or current batch) up to this many rows: p-value "
        "tests; both above: distances"
    )
    p_value: Annotated[float, Field(gt=0, lt=1)]
    distance: Annotated[float, Field(gt=0)]
    drift_share: Annotated[float, Field(gt=0, le=1)]
    strict: bool
    columns: dict[str, ColumnTest] = Field(default_factory=dict)
    psi: PSI
    concept: Concept
    plot_bins: Annotated[int, Field(ge=2)]
    fail_on_drift: bool
    reference_sample: ReferenceSample


class Serve(Section):
    """The prediction service (regpipe.serve); read by the service only, no DVC stage uses it.

    Every key can be overridden by an environment variable ``REGPIPE_SERVE_<KEY>`` or a flag of
    ``python -m regpipe.serve``.
    """

    host: Annotated[str, Field(min_length=1)]
    port: Annotated[int, Field(ge=1, le=65535)]
    stage: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]*$")] = Field(
        description="the registry stage whose model is served"
    )
    version: Annotated[str, Field(pattern=r"^v\d+\.\d+\.\d+$")] | None = Field(
        description="a registered version (v1.2.0) to serve instead of the stage's"
    )
    use_registry: bool = Field(
        description="false: always serve the workspace champion (a container with a mounted model)"
    )
    allowed_signers: Annotated[str, Field(min_length=1)] | None = Field(
        None,
        description="git allowed-signers file: only registry versions whose tags one of its SSH "
        "keys signed are served or fetched (null: no signature check)",
    )
    # The pipeline's files, null: where dvc.yaml's stages write them (evaluate, prepare).
    model: Annotated[str, Field(min_length=1)] | None = Field(
        None, description="the workspace champion (skops)"
    )
    model_card: Annotated[str, Field(min_length=1)] | None = None
    train_stats: Annotated[str, Field(min_length=1)] | None = Field(
        None, description="training statistics shown as feature ranges by /metadata"
    )
    max_batch: Annotated[int, Field(ge=1, le=100_000)]
    max_body_bytes: Annotated[int, Field(ge=1024, le=1 << 30)]
    log_path: Annotated[str, Field(min_length=1)]
    log_max_bytes: Annotated[int, Field(ge=1024)]
    log_backups: Annotated[int, Field(ge=1, le=1000)]
    log_required: bool = Field(
        description="true: a prediction that cannot be logged is not returned (503); false: it is "
        "returned and /health counts the failed writes"
    )


class Report(Section):
    """The pull-request check (regpipe-report); no DVC stage reads it."""

    max_rmse_regression: Annotated[float, Field(ge=0, lt=1)] = Field(
        description="largest allowed rise of the champion's test RMSE over the base branch's, "
        "as a fraction (0.01: 1%)"
    )


class Engine(Section):
    """Where train's and evaluate's statistics passes run: in the stage's process, or as one
    task per Parquet partition on a Dask cluster (the same numbers either way, to rounding)."""

    name: Literal["local", "dask"] = Field(
        description="local: the stage's own process; dask: a dask.distributed cluster"
    )
    scheduler_address: Annotated[str, Field(min_length=1)] | None = Field(
        description="null: start a LocalCluster on this machine for the stage; an address "
        "(tcp://host:8786): use that cluster, whose workers must read the same data paths"
    )
    n_workers: PositiveInt | None = Field(
        description="workers of the LocalCluster (null: Dask's default for this machine)"
    )

    @model_validator(mode="after")
    def _workers_only_for_a_local_cluster(self) -> "Engine":
        if self.n_workers is not None and self.scheduler_address is not None:
            raise ValueError(
                "n_workers sizes the LocalCluster that scheduler_address: null starts; "
                "a running cluster's size is its own"
            )
        return self


SECTIONS: dict[str, type[Section]] = {
    "generate": Generate,
    "prepare": Prepare,
    "train_ols": TrainOLS,
    "train_ridge": TrainRidge,
    "train_lasso": TrainLasso,
    "evaluate": Evaluate,
    "engine": Engine,
    "drift": Drift,
    "serve": Serve,
    "report": Report,
}

S = TypeVar("S", bound=Section)


def shown(value: object) -> str:
    """``repr(value)`` cut to a few hundred characters, without building the whole repr."""
    short = reprlib.Repr()
    short.maxlevel, short.maxstring, short.maxother = 3, MAX_SHOWN_CHARS, MAX_SHOWN_CHARS
    text = short.repr(value)
    return text if len(text) <= MAX_SHOWN_CHARS else text[:MAX_SHOWN_CHARS] + "..."


def parse_yaml(text: str | bytes, source: str | Path) -> object:
    """YAML 1.2 as DVC parses it (ruamel.yaml, safe), refusing duplicate keys and aliases."""
    from ruamel.yaml import YAML, AliasEvent
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    yaml = YAML(typ="safe")  # what dvc.utils.serialize.parse_yaml constructs
    try:
        for event in yaml.parse(text):
            if isinstance(event, AliasEvent):
                raise UserError(
                    f"{source}: line {event.start_mark.line + 1}: alias *{event.anchor[:50]} "
                    "refused: write the value out (aliases can expand a small file into gigabytes)"
                )
        return yaml.load(text)  # ruamel refuses a duplicate key (DuplicateKeyError)
    except MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = f"line {mark.line + 1}: " if mark else ""
        problem = " ".join(str(error.problem or error.context or error).split())
        raise UserError(f"{source}: not valid YAML: {line}{problem[:MAX_SHOWN_CHARS]}") from None
    except (YAMLError, UnicodeDecodeError) as error:
        raise UserError(f"{source}: not valid YAML: {str(error)[:MAX_SHOWN_CHARS]}") from None


def read_params_file(path: Path = PARAMS_FILE) -> dict:
    """The raw params mapping; refuses a file that is missing, not YAML, or has unknown sections."""
    try:
        raw = parse_yaml(path.read_bytes(), path)
    except FileNotFoundError:
        raise UserError(f"{path}: file not found (run from the repository root)") from None
    if not isinstance(raw, dict):
        raise UserError(f"{path}: expected a mapping of sections, got {type(raw).__name__}")
    unknown = sorted(map(str, set(raw) - set(SECTIONS)))
    if unknown:
        raise UserError(
            f"{path}: unknown section(s) {shown(unknown)}; valid sections: {sorted(SECTIONS)}"
        )
    return raw


def parse_section(name: str, raw: object, schema: type[S], source: str = str(PARAMS_FILE)) -> S:
    """Validate one section's mapping against its schema, with errors naming each bad key."""
    try:
        return schema.model_validate(raw if raw is not None else {})
    except ValidationError as error:
        problems = []
        for item in error.errors():
            key = ".".join([name, *map(str, item["loc"])])
            got = "" if item["type"] == "missing" else f" (got {shown(item['input'])})"
            problems.append(f"  {key[:MAX_SHOWN_CHARS]}: {item['msg'][:MAX_SHOWN_CHARS]}{got}")
        raise UserError(f"{source}: invalid params\n" + "\n".join(problems)) from None


def load_params(name: str, path: Path = PARAMS_FILE) -> Section:
    """The validated section ``name`` of params.yaml."""
    if name not in SECTIONS:
        raise UserError(f"unknown params section {name!r}; valid sections: {sorted(SECTIONS)}")
    raw = read_params_file(path)
    if name not in raw:
        raise UserError(f"{path}: section {name!r} is missing")
    return parse_section(name, raw[name], SECTIONS[name], str(path))
