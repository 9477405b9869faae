"""The pipeline's JSON reports as typed models: the one definition of each file's fields.

The stages build these models and write them with :func:`write_report`; everything that reads a
report (the next stage, the registry, the service, the pull-request report, the sweep) reads it
with :func:`read_report` or :func:`parse_report` and gets attributes, not string keys. The JSON
written is what ``dvc metrics diff`` compares, so a model's field order is the file's key order,
and a key the builder did not set (a baseline has no bias/variance) is not written.

Optional fields (``X | None``) and lists default to null / empty: ``dvc exp show --json``, which
the sweep reads, leaves null values and empty lists out of an experiment's metrics data.
"""

from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from regpipe.errors import UserError
from regpipe.io import read_json, write_json


class Report(BaseModel):
    """A report or a part of one: no unknown key, immutable once built."""

    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())


ReportT = TypeVar("ReportT", bound=Report)


class Metrics(Report):
    """Regression metrics on one split; R² is null when undefined (a 1-row CV fold)."""

    rmse: float
    mae: float
    r2: float | None = None


class Gate(Report):
    """The quality gate's verdict on the champion."""

    passed: bool
    reasons: list[str] = []
    improvement_over_baseline: float
    min_improvement: float
    min_r2: float


class BiasVariance(Report):
    """The expected test MSE split into bias², variance and noise over bootstrap refits."""

    expected_mse: float
    bias_sq_plus_noise: float
    bias_sq: float
    variance: float
    noise: float


class Evaluation(Report):
    """metrics of the evaluate stage: every model and the baseline on the test split."""

    models: dict[str, Metrics]
    champion: str
    gate: Gate
    cv: dict[str, Metrics]
    n_bootstrap: int
    bias_variance: dict[str, BiasVariance]


class LeaderboardRow(Report):
    """One model of the card's leaderboard; the baseline has no bias/variance."""

    model: str
    test_rmse: float
    test_mae: float
    test_r2: float | None = None
    cv_rmse: float
    cv_mae: float
    cv_r2: float | None = None
    expected_mse: float | None = None
    bias_sq_plus_noise: float | None = None
    bias_sq: float | None = None
    variance: float | None = None
    noise: float | None = None


class TrainMetrics(Report):
    """metrics of a train stage: the chosen alpha, its CV scores, the fitted coefficients."""

    alpha: float | None = None
    alpha_rule: str | None = None
    n_alphas_searched: int
    alpha_on_grid_edge: str | None = None
    cv_rmse_mean: float
    cv_rmse_std: float
    train_rmse_mean: float
    n_zero_coef: int
    intercept: float
    coef: dict[str, float]


class ModelCard(Report):
    """The deployable champion: its hashes, data, metrics and coefficients.

    ``skops_sha256`` is absent from cards written before the skops model existed; the registry
    and the service refuse those versions by its absence.
    """

    artifact: str
    model: str
    sha256: str
    skops_sha256: str | None = None
    data_sha256: dict[str, str]
    alpha: float | None = None
    cv_rmse_mean: float
    test_metrics: Metrics
    baseline_metrics: Metrics
    gate: Gate
    cv_metrics: Metrics
    n_bootstrap: int
    bias_variance: BiasVariance
    leaderboard: list[LeaderboardRow]
    coef: dict[str, float]
    zero_features: list[str] = []


def parse_report(kind: type[ReportT], data: Any, source: str) -> ReportT:
    """``data`` (parsed JSON) as a ``kind`` report; a wrong field is named with ``source``."""
    try:
        return kind.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(map(str, first["loc"])) or "the top level"
        raise UserError(
            f"{source}: not a valid {kind.__name__} report: {where}: {first['msg']} "
            f"({error.error_count()} problem(s)); rebuild it with `dvc repro`"
        ) from None


def read_report(kind: type[ReportT], path: str | Path) -> ReportT:
    """The report file at ``path``, checked against ``kind``."""
    return parse_report(kind, read_json(path), str(path))


def report_data(report: Report) -> dict:
    """The report as the JSON object it is written as (keys the builder left unset omitted)."""
    return report.model_dump(mode="json", exclude_unset=True)


def write_report(report: Report, path: str | Path) -> None:
    """Write ``report`` as indented JSON with rounded floats (:func:`regpipe.io.write_json`)."""
    write_json(report_data(report), path)
