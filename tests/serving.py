"""Helpers for the serving tests: a tiny workspace with a real model, and a real uvicorn server."""

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import yaml
from sklearn.linear_model import LinearRegression
from sklearn.metrics import mean_absolute_error, r2_score, root_mean_squared_error
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from regpipe.contract import training_statistics
from regpipe.evaluation import model_spec
from regpipe.io import save_model, save_safe_model, sha256_file, write_json
from regpipe.models import coefficients
from regpipe.pipeline_paths import DVC_YAML, pipeline_paths
from regpipe.reports import BiasVariance, Gate, LeaderboardRow, Metrics, ModelCard, write_report
from tests.helpers import ROOT, command_env, free_port

FEATURES = ["age", "bmi", "bp"]


def tiny_workspace(path: Path, *, max_batch: int = 50, max_body_bytes: int = 4096) -> Path:
    """A directory laid out like the repository: params.yaml, a fitted champion, its card, stats.

    The model is a real scikit-learn Pipeline fitted on 30 rows, so predictions can be checked
    against ``model.predict`` without running the pipeline.
    """
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(30, len(FEATURES))), columns=FEATURES)
    y = X @ np.array([1.0, 20.0, -3.0]) + 100.0
    model = Pipeline([("scaler", StandardScaler()), ("model", LinearRegression())]).fit(X, y)
    return write_workspace(
        path, model, X.assign(target=y), max_batch=max_batch, max_body_bytes=max_body_bytes
    )


def regression_metrics(y: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    return {
        "rmse": root_mean_squared_error(y, predicted),
        "mae": mean_absolute_error(y, predicted),
        "r2": r2_score(y, predicted),
    }


def model_card(
    model: Pipeline, frame: pd.DataFrame, *, sha256: str, skops_sha256: str
) -> ModelCard:
    """A valid card for ``model``, its metrics measured on ``frame`` (the tests have no test
    split): the champion against the mean's baseline, no CV and no bootstrap."""
    y = frame["target"].to_numpy()
    scores = Metrics(**regression_metrics(y, model.predict(frame.drop(columns="target"))))
    baseline = Metrics(**regression_metrics(y, np.full(len(y), y.mean())))
    kind, alpha = model_spec(model)
    row = {"test_rmse": scores.rmse, "test_mae": scores.mae, "test_r2": scores.r2}
    return ModelCard(
        artifact="champion",
        model=kind,
        sha256=sha256,
        skops_sha256=skops_sha256,
        data_sha256={},
        alpha=None if kind == "ols" else alpha,
        cv_rmse_mean=scores.rmse,
        test_metrics=scores,
        baseline_metrics=baseline,
        gate=Gate(
            passed=True,
            reasons=[],
            improvement_over_baseline=1 - scores.rmse / baseline.rmse,
            min_improvement=0.1,
            min_r2=0.4,
        ),
        cv_metrics=scores,
        n_bootstrap=0,
        bias_variance=BiasVariance(
            expected_mse=scores.rmse**2,
            bias_sq_plus_noise=scores.rmse**2,
            bias_sq=0.0,
            variance=0.0,
            noise=scores.rmse**2,
        ),
        leaderboard=[
            LeaderboardRow(
                model=kind, **row, cv_rmse=scores.rmse, cv_mae=scores.mae, cv_r2=scores.r2
            ),
        ],
        coef=coefficients(model),
        zero_features=[],
    )


def write_workspace(
    path: Path,
    model: Pipeline,
    frame: pd.DataFrame,
    *,
    contract: dict | None = None,
    max_batch: int = 50,
    max_body_bytes: int = 4096,
) -> Path:
    """``model`` saved as the workspace champion (joblib and skops) with its card, and the stats
    of ``frame`` where dvc.yaml puts them; not a git checkout, so the card is trusted as a
    container's mounted one is."""
    path.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ROOT / DVC_YAML, path / DVC_YAML)
    paths = pipeline_paths(path)
    save_model(model, path / paths.champion)
    save_safe_model(model, path / paths.safe_champion)
    card = model_card(
        model,
        frame,
        sha256=sha256_file(path / paths.champion),
        skops_sha256=sha256_file(path / paths.safe_champion),
    )
    write_report(card, path / paths.model_card)
    stats = training_statistics(frame, contract)
    write_json(stats, path / paths.train_stats)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["serve"] |= {"max_batch": max_batch, "max_body_bytes": max_body_bytes}
    (path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return path


@contextmanager
def running_server(
    repo: Path,
    *args: str,
    timeout: float = 60.0,
    env: dict[str, str] | None = None,
    preexec_fn: Callable[[], None] | None = None,
) -> Iterator[httpx.Client]:
    """``python -m regpipe.serve serve`` on 127.0.0.1 in ``repo``, until /health answers.

    Yields a client bound to it; the server is stopped by its PID afterwards. ``env`` adds
    variables; ``preexec_fn`` runs in the child before the server (e.g. to set a resource limit).
    """
    port = free_port()
    log = server_log(repo, port).open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "regpipe.serve", "serve", "--host", "127.0.0.1"]
        + ["--port", str(port), *args],
        cwd=repo,
        env={**command_env(), **(env or {})},
        preexec_fn=preexec_fn,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise AssertionError(f"server exited {process.returncode}:\n{log_text(repo, port)}")
            try:
                if client.get("/health").status_code in (200, 503):
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"server not up in {timeout}s:\n{log_text(repo, port)}")
            time.sleep(0.05)
        yield client
    finally:
        client.close()
        stop_process(process, timeout=10)


def stop_process(process: subprocess.Popen, *, timeout: float) -> None:
    """Terminate a server the test started, killing it when it ignores SIGTERM for ``timeout``."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def server_log(repo: Path, port: int) -> Path:
    """Beside the repository, so the server's output never makes a git tree dirty."""
    return repo.parent / f"server-{port}.log"


def log_text(repo: Path, port: int) -> str:
    return server_log(repo, port).read_text()


def read_log_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]
