"""regpipe.reports: the committed reports parse into their typed models and are written back
byte for byte (what `dvc metrics diff` compares); a report that does not fit is named."""

from pathlib import Path

import pytest

from regpipe.errors import UserError
from regpipe.io import read_json, write_json
from regpipe.pipeline_paths import pipeline_paths
from regpipe.reports import (
    DriftReport,
    Evaluation,
    ModelCard,
    TrainMetrics,
    read_report,
    write_report,
)
from tests.helpers import ROOT

PATHS = pipeline_paths(ROOT)
REPORTS = [
    (Evaluation, PATHS.evaluate_metrics),
    (ModelCard, PATHS.model_card),
    *[(TrainMetrics, PATHS.train_metrics(f"train_{name}")) for name in ("ols", "ridge", "lasso")],
    (DriftReport, PATHS.drift_metrics),
]


@pytest.mark.parametrize(("kind", "path"), REPORTS, ids=[path for _, path in REPORTS])
def test_a_committed_report_round_trips_byte_for_byte(
    tmp_path: Path, kind: type, path: str
) -> None:
    report = read_report(kind, ROOT / path)
    write_report(report, tmp_path / "out.json")
    assert (tmp_path / "out.json").read_bytes() == (ROOT / path).read_bytes()


def test_the_card_agrees_with_the_evaluation_it_was_built_from() -> None:
    evaluation = read_report(Evaluation, ROOT / PATHS.evaluate_metrics)
    card = read_report(ModelCard, ROOT / PATHS.model_card)
    training = read_report(TrainMetrics, ROOT / PATHS.train_metrics(f"train_{card.model}"))
    assert card.model == evaluation.champion
    assert card.test_metrics == evaluation.models[card.model]
    assert card.gate == evaluation.gate and card.coef == training.coef
    assert [row.model for row in card.leaderboard] == sorted(
        evaluation.models, key=lambda name: evaluation.models[name].rmse
    )


def test_a_report_that_does_not_fit_is_named(tmp_path: Path) -> None:
    data = read_json(ROOT / PATHS.evaluate_metrics)
    data["gate"]["passed"] = "maybe"
    write_json(data, tmp_path / "evaluate.json")
    with pytest.raises(UserError, match=r"not a valid Evaluation report: gate.passed"):
        read_report(Evaluation, tmp_path / "evaluate.json")
    del data["gate"]
    data["gates"] = {}
    write_json(data, tmp_path / "evaluate.json")
    with pytest.raises(UserError, match=r"\(2 problem\(s\)\)"):
        read_report(Evaluation, tmp_path / "evaluate.json")
