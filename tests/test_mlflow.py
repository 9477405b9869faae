"""`regpipe-mlflow sync` into a SQLite store and a real MLflow tracking server on 127.0.0.1.

The history: the built clone (registered v0.0.1, prod), a commit with another Ridge alpha
(v0.0.2, staging) and one DVC experiment. Everything MLflow holds is read back with MLflow's
client and compared with git, dvc and gto: run count, every metric of the metrics files, params,
dvc.lock hashes, artifacts, model versions and aliases. The server takes ~10 s to start on an idle
machine (over a minute on a loaded one): it is started once for the module.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest
import yaml
from mlflow import MlflowClient

from tests.helpers import BIN, command_env, edit_params, free_port, sh
from tests.serving import stop_process

pytestmark = [pytest.mark.pipeline, pytest.mark.service, pytest.mark.xdist_group("mlflow")]

METRIC_FILES = (
    "evaluate.json",
    "train_ols.json",
    "train_ridge.json",
    "train_lasso.json",
    "drift.json",
)


def registry(repo: Path, *args: str) -> None:
    sh(str(BIN / "regpipe-registry"), *args, cwd=repo)


def mlflow_sync(repo: Path, uri: str) -> str:
    result = sh(str(BIN / "regpipe-mlflow"), "sync", "--tracking-uri", uri, cwd=repo)
    assert "Traceback" not in result.stderr
    return result.stdout.strip()


@pytest.fixture(scope="module")
def history(built_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("mlflow") / "repo"
    shutil.copytree(built_repo, repo, symlinks=True)
    registry(repo, "register")
    registry(repo, "promote", "v0.0.1", "--stage", "prod")
    edit_params(repo / "params.yaml", {"train_ridge.alpha": 10.0})
    sh("dvc", "repro", cwd=repo)
    sh("git", "add", "-A", cwd=repo)
    sh("git", "commit", "-q", "-m", "ridge alpha 10", cwd=repo)
    registry(repo, "register")
    registry(repo, "promote", "v0.0.2", "--stage", "staging")
    sh("dvc", "exp", "run", "--temp", "-n", "ridge-1", "-S", "train_ridge.alpha=1", cwd=repo)
    return repo


def expected_revisions(repo: Path) -> set[str]:
    """Independently of the sync: commits that changed the pipeline, tagged ones, experiments."""
    changed = sh(
        "git", "rev-list", "--branches", "--", "dvc.lock", "params.yaml", "metrics", cwd=repo
    )
    tags = sh("git", "tag", "--list", "champion@*", cwd=repo).stdout.split()
    tagged = [sh("git", "rev-list", "-n1", tag, cwd=repo).stdout.strip() for tag in tags]
    experiments = json.loads(sh("dvc", "exp", "show", "--json", cwd=repo).stdout)
    exp_revs = [
        exp["rev"]
        for baseline in experiments
        for branch in baseline.get("experiments") or []
        for exp in branch["revs"]
    ]
    assert len(exp_revs) == 1, experiments
    return set(changed.stdout.split()) | set(tagged) | set(exp_revs)


def numbers(data: dict) -> dict[str, float]:
    """Every number of a metrics file by its dotted key, lists of numbers by index."""
    flat = pd.json_normalize(data, sep=".").iloc[0].to_dict()
    found = {}
    for key, value in flat.items():
        values = value if isinstance(value, list) else [value]
        for index, item in enumerate(values):
            if isinstance(item, int | float) and not pd.isna(item):
                found[key if not isinstance(value, list) else f"{key}.{index}"] = float(item)
    return found


def gto_stages(repo: Path) -> dict[str, str]:
    shown = json.loads(sh("gto", "show", "champion", "--json", cwd=repo).stdout)
    return {stage["stage"]: item["version"] for item in shown for stage in item["stages"]}


def mlflow_stages(client: MlflowClient) -> dict[str, str]:
    model = client.get_registered_model("champion")
    return {
        alias: client.get_model_version("champion", number).tags["gto.version"]
        for alias, number in model.aliases.items()
    }


def check_store(client: MlflowClient, repo: Path, tmp_path: Path) -> None:
    """What the store holds equals what git, dvc and gto say."""
    experiment = client.get_experiment_by_name("regpipe")
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    by_rev = {run.data.tags["mlflow.source.git.commit"]: run for run in runs}
    assert len(runs) == len(by_rev) == len(expected_revisions(repo))
    assert set(by_rev) == expected_revisions(repo)
    for rev, run in by_rev.items():
        logged = run.data.metrics
        for name in METRIC_FILES:
            committed = numbers(
                json.loads(sh("git", "show", f"{rev}:metrics/{name}", cwd=repo).stdout)
            )
            stem = Path(name).stem
            assert {k: v for k, v in logged.items() if k.startswith(f"{stem}/")} == {
                f"{stem}/{key}": value for key, value in committed.items()
            }
        params = yaml.safe_load(sh("git", "show", f"{rev}:params.yaml", cwd=repo).stdout)
        assert run.data.params["train_ridge.alpha"] == json.dumps(params["train_ridge"]["alpha"])
        lock = yaml.safe_load(sh("git", "show", f"{rev}:dvc.lock", cwd=repo).stdout)
        ridge = next(
            out for out in lock["stages"]["train_ridge"]["outs"] if "joblib" in out["path"]
        )
        assert run.data.tags[f"dvc.lock:{ridge['path']}"] == ridge["md5"]
        card = client.download_artifacts(run.info.run_id, "metrics/model_card.json", str(tmp_path))
        committed_card = sh("git", "show", f"{rev}:metrics/model_card.json", cwd=repo).stdout
        assert Path(card).read_text() == committed_card
        plots = {
            Path(item.path).name for item in client.list_artifacts(run.info.run_id, "metrics/plots")
        }
        assert {"curve_ridge.csv", "path_lasso.csv", "predictions.csv"} <= plots
    alphas = sorted(
        float(run.data.params["train_ridge.alpha"])
        for run in runs
        if run.data.params["train_ridge.alpha"] != "null"
    )
    assert alphas == [1.0, 10.0]

    versions = client.search_model_versions("name = 'champion'")
    assert sorted(item.tags["gto.version"] for item in versions) == ["v0.0.1", "v0.0.2"]
    for item in versions:
        tag_rev = sh("git", "rev-list", "-n1", f"champion@{item.tags['gto.version']}", cwd=repo)
        assert item.run_id == by_rev[tag_rev.stdout.strip()].info.run_id
        model_dir = client.download_artifacts(
            item.run_id, "model", str(tmp_path / str(item.version))
        )
        card = json.loads((Path(model_dir) / "model_card.json").read_text())
        # The file fetch_model verified (joblib, or skops once the registry serves that), beside
        # the card that records its hash.
        model_files = [path for path in Path(model_dir).iterdir() if path.name != "model_card.json"]
        assert len(model_files) == 1
        digest = hashlib.sha256(model_files[0].read_bytes()).hexdigest()
        assert digest in {card.get("sha256"), card.get("skops_sha256")}
    assert mlflow_stages(client) == gto_stages(repo)


def test_sync_to_sqlite_is_idempotent_and_moves_aliases(history: Path, tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    n_runs = len(expected_revisions(history))
    first = mlflow_sync(history, uri)
    added = f"{n_runs} runs added ({n_runs - 1} commits, 1 experiments)"
    assert f"{added}, 0 already there" in first, first
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    check_store(client, history, tmp_path / "first")
    assert mlflow_stages(client) == {"prod": "v0.0.1", "staging": "v0.0.2"}

    second = mlflow_sync(history, uri)
    assert f"0 runs added (0 commits, 0 experiments), {n_runs} already there" in second, second
    assert "0 versions added, 0 removed, 0 aliases moved" in second, second
    experiment = client.get_experiment_by_name("regpipe")
    assert len(client.search_runs([experiment.experiment_id])) == n_runs

    registry(history, "promote", "v0.0.2", "--stage", "prod")
    for tag in sh("git", "tag", "--list", "champion#staging#*", cwd=history).stdout.split():
        sh("git", "tag", "-d", tag, cwd=history)  # staging is assigned to nothing now
    third = mlflow_sync(history, uri)
    assert "0 runs added" in third and "2 aliases moved" in third, third
    assert mlflow_stages(client) == gto_stages(history) == {"prod": "v0.0.2"}
    registry(history, "rollback", "--stage", "prod")
    mlflow_sync(history, uri)
    assert mlflow_stages(client) == gto_stages(history) == {"prod": "v0.0.1"}


@pytest.fixture(scope="module")
def tracking_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`mlflow server` (SQLite backend, proxied artifacts) on a free port of 127.0.0.1."""
    folder = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    log = (folder / "server.log").open("w")
    env = {**command_env(), "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    process = subprocess.Popen(
        [str(BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port)]
        + ["--workers", "1", "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}"]
        + ["--artifacts-destination", str(folder / "artifacts")],
        cwd=folder,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 420
        while True:
            if process.poll() is not None:
                raise AssertionError((folder / "server.log").read_text())
            try:
                if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, (folder / "server.log").read_text()
            time.sleep(0.5)
        yield url
    finally:
        stop_process(process, timeout=20)
        log.close()


def test_sync_to_a_tracking_server(history: Path, tracking_server: str, tmp_path: Path) -> None:
    n_runs = len(expected_revisions(history))
    first = mlflow_sync(history, tracking_server)
    assert f"{n_runs} runs added ({n_runs - 1} commits, 1 experiments)" in first, first
    client = MlflowClient(tracking_uri=tracking_server, registry_uri=tracking_server)
    check_store(client, history, tmp_path)
    assert "0 runs added" in mlflow_sync(history, tracking_server)


def test_without_mlflow_the_command_says_how_to_install_it(tmp_path: Path) -> None:
    # A stand-in `mlflow` module that fails to import, first on the path.
    (tmp_path / "mlflow").mkdir()
    (tmp_path / "mlflow" / "__init__.py").write_text("raise ImportError('no mlflow here')\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "regpipe.mlflow_sync", "sync", "--tracking-uri", "sqlite:///x.db"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: MLflow is not installed: it is an optional extra, install it with "
        "`make setup-mlflow`"
    )
