"""A loaded model with what /health and /metadata say about it, and its fast linear form."""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from sklearn.preprocessing import StandardScaler

from regpipe.errors import UserError
from regpipe.models import ESTIMATORS, categorical_levels
from regpipe.reports import ModelCard, report_data
from regpipe.serve.schema import (
    MAX_ERRORS_SHOWN,
    UNSEEN_LEVEL,
    InputError,
    ModelInput,
    RecordValidator,
)

RANGE_KEYS = ("min", "max", "mean", "std", "q01", "q99")


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
    card: ModelCard
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
            "estimator": self.card.model,
            "version": self.version,
            "stage": self.stage,
            "source": self.source,
            "git_revision": self.git_revision,
            "sha256": self.sha256,
            "skops_sha256": self.card.skops_sha256,
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
            "test_metrics": report_data(self.card.test_metrics),
            "baseline_metrics": report_data(self.card.baseline_metrics),
            "gate": report_data(self.card.gate),
            "alpha": self.card.alpha,
            "coef": self.card.coef,
        }
