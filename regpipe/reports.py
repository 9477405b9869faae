"""The pipeline's JSON reports as typed models: the one definition of each file's fields.

The stages build these models and write them with :func:`write_report`; everything that reads a
report (the next stage, the registry, the service, the pull-request report, the sweep, MLflow)
reads it with :func:`read_report` (a file), :func:`committed_report` (as committed at a git
revision) or :func:`load_report` (bytes) and gets attributes, not string keys. The JSON
written is what ``dvc metrics diff`` compares, so a model's field order is the file's key order,
and a key the builder did not set (a baseline has no bias/variance) is not written.

A field has a default only where a file may lawfully lack the key: the builder leaves it out
(the baseline's bias/variance, a drift column's test numbers when it could not be tested), or
files written before the field existed must still be read to be refused with a reason (a card
without ``skops_sha256``). Every other key is required, null included: the readers get the
files themselves (the workspace, or ``git show`` at a revision: :func:`committed_report`), never
``dvc exp show``'s copy, which leaves null values and empty lists out.
"""

import json
import subprocess
from pathlib import Path
from typing import Any, Literal, TypeVar

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
    r2: float | None


class Gate(Report):
    """The quality gate's verdict on the champion."""

    passed: bool
    reasons: list[str]
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
    test_r2: float | None
    cv_rmse: float
    cv_mae: float
    cv_r2: float | None
    expected_mse: float | None = None
    bias_sq_plus_noise: float | None = None
    bias_sq: float | None = None
    variance: float | None = None
    noise: float | None = None


class TrainMetrics(Report):
    """metrics of a train stage: the chosen alpha, its CV scores, the fitted coefficients."""

    alpha: float | None
    alpha_rule: str | None
    n_alphas_searched: int
    alpha_on_grid_edge: str | None
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
    alpha: float | None
    cv_rmse_mean: float
    test_metrics: Metrics
    baseline_metrics: Metrics
    gate: Gate
    cv_metrics: Metrics
    n_bootstrap: int
    bias_variance: BiasVariance
    leaderboard: list[LeaderboardRow]
    coef: dict[str, float]
    zero_features: list[str]


class ColumnDrift(Report):
    """One column of the drift report: its test and result, PSI, missing and out-of-range shares.

    Keys a column's path does not produce are left out: the test's numbers for a column that
    could not be tested (``reason`` says why, and only then), ``psi`` for a categorical column,
    the shares for a column absent from the batch. Whatever the path, the keys come in this
    order.
    """

    type: Literal["numeric", "categorical"]
    test: Literal["ks", "chisquare", "z", "wasserstein", "jensenshannon", "psi", "constant"] | None
    statistic: float | None = None
    p_value: float | None = None  # null for the distance tests
    distance: float | None = None  # null for the p-value tests
    threshold: float | None = None
    drift: bool | None
    reason: str | None = None
    n_distinct: int | None = None  # null: more than 5
    psi: float | None = None
    psi_band: Literal["stable", "moderate", "significant"] | None = None
    n_reference: int
    n_current: int
    missing_reference: float | None = None
    missing_current: float | None = None
    out_of_range_current: float | None = None


class DatasetDrift(Report):
    """The dataset verdict: the share of tested columns that drifted against ``drift_share``."""

    drift: bool | None  # null: no column could be tested
    drifted_columns: list[str]
    n_drifted: int
    n_tested: int
    share_drifted: float | None
    drift_share: float
    strict: bool
    bonferroni_p_value: float | None
    bonferroni_columns: list[str]
    untested_columns: list[str]


class ConceptDrift(Report):
    """The champion's RMSE on the batch against its test RMSE; only ``reason`` when unchecked."""

    drift: bool | None
    reason: str | None = None
    rmse_current: float | None = None
    rmse_interval: tuple[float, float] | None = None
    confidence: float | None = None
    rmse_test: float | None = None
    rmse_limit: float | None = None
    n_rows: int | None = None


class DriftReport(Report):
    """metrics of the drift stage: sizes, the dataset verdict, concept drift, every column.

    ``damaged_log_lines`` (cut last lines of the request log, skipped) is written only when
    there were some.
    """

    n_reference: int
    n_current: int
    damaged_log_lines: int = 0
    dataset: DatasetDrift
    concept: ConceptDrift
    columns: dict[str, ColumnDrift]


REBUILD = "rebuild it with `dvc repro`"
COMMITTED = "the file committed there does not fit this version of regpipe"


def parse_report(kind: type[ReportT], data: Any, source: str, hint: str = REBUILD) -> ReportT:
    """``data`` (parsed JSON) as a ``kind`` report; a wrong field is named with ``source``."""
    try:
        return kind.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(map(str, first["loc"])) or "the top level"
        raise UserError(
            f"{source}: not a valid {kind.__name__} report: {where}: {first['msg']} "
            f"({error.error_count()} problem(s)); {hint}"
        ) from None


def load_report(
    kind: type[ReportT], text: str | bytes, source: str, hint: str = REBUILD
) -> ReportT:
    """JSON text or bytes (a file's, or ``git show``'s) as a ``kind`` report named ``source``."""
    try:
        data = json.loads(text)
    except ValueError as error:  # JSONDecodeError, or bytes that are not UTF-8
        raise UserError(f"{source}: not valid JSON: {error}; {hint}") from None
    return parse_report(kind, data, source, hint)


def read_report(kind: type[ReportT], path: str | Path) -> ReportT:
    """The report file at ``path``, checked against ``kind``."""
    return parse_report(kind, read_json(path), str(path))


class NotCommitted(UserError):  # noqa: N818 (read as "the file is not committed")
    """The file is not in git at the revision asked for."""


def committed_report(
    kind: type[ReportT], repo: str | Path, rev: str, path: str, *, label: str | None = None
) -> ReportT:
    """The report committed at ``rev`` (reports live in git, so `git show` is the record).

    Errors name the file and the revision (or ``label``, e.g. a registry tag): a registered
    version or an experiment whose file is missing, was edited, or predates a field is refused
    in one line.
    """
    source = f"{path} at {label or rev[:12]}"
    shown = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=repo, capture_output=True)
    if shown.returncode != 0:
        problem = (shown.stderr.decode(errors="replace").strip().splitlines() or ["?"])[0]
        raise NotCommitted(f"{source}: not in git: {problem}")
    return load_report(kind, shown.stdout, source, hint=COMMITTED)


def report_data(report: Report) -> dict:
    """The report as the JSON object it is written as (keys the builder left unset omitted)."""
    return report.model_dump(mode="json", exclude_unset=True)


def write_report(report: Report, path: str | Path) -> None:
    """Write ``report`` as indented JSON with rounded floats (:func:`regpipe.io.write_json`)."""
    write_json(report_data(report), path)
