"""engine.name: dask: train's and evaluate's statistics passes on a real dask.distributed
LocalCluster (2 worker processes on 127.0.0.1) give the local engine's numbers to 1e-9."""

import json
import os
import resource
import time
from functools import partial

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from distributed import Client
from ruamel.yaml import YAML
from sklearn.metrics import r2_score
from sklearn.model_selection import KFold

from regpipe.engine import DaskRows, open_engine
from regpipe.errors import UserError
from regpipe.evaluation import design, refit_metrics, score_rows, target_mean
from regpipe.models import fit_encoder, fit_rows, make_pipeline, parquet_rows
from regpipe.params import Engine, parse_section
from tests.helpers import sh

ALPHAS = {"ols": None, "ridge": np.logspace(-3, 2, 7), "lasso": np.logspace(-3, 0, 7)}


@pytest.fixture(scope="module")
def client() -> Client:
    """The LocalCluster a stage starts with ``scheduler_address: null`` (2 worker processes on
    127.0.0.1); the pipeline test below connects to it by address, as to a team's cluster."""
    engine = parse_section(
        "engine", {"name": "dask", "scheduler_address": None, "n_workers": 2}, Engine
    )
    with open_engine(engine) as client:
        assert len(client.scheduler_info()["workers"]) == 2
        yield client


def write_split(path, n: int, seed: int) -> pd.DataFrame:
    """Numeric and categorical features, written in row groups of 70 rows (the partitions)
    that straddle the 50-row chunks of the local engine (the bootstrap's blocks)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(n, 3)) * [1, 10, 0.1] + [0, 50, 0], columns=list("abc"))
    frame["colour"] = rng.choice(["red", "green", "blue"], size=n, p=[0.5, 0.45, 0.05])
    frame["target"] = 2 * frame["a"] - 0.1 * frame["b"] + (frame["colour"] == "blue") * 3
    frame["target"] += rng.normal(size=n)
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=70)
    return frame


def assert_close(local: object, dask: object, where: str = "") -> None:
    """Every number of two nested results equal to 1e-9 (relative, or absolute near 0)."""
    if isinstance(local, dict):
        assert local.keys() == dask.keys(), where
        for key in local:
            assert_close(local[key], dask[key], f"{where}.{key}")
    elif local is None or isinstance(local, str | bool):
        assert local == dask, where
    else:
        np.testing.assert_allclose(dask, local, rtol=1e-9, atol=1e-9, err_msg=where)


@pytest.mark.service  # a real dask.distributed LocalCluster on 127.0.0.1
def test_train_and_evaluate_passes_equal_the_local_engine(tmp_path, client: Client) -> None:
    train_path, test_path = tmp_path / "train.parquet", tmp_path / "test.parquet"
    train = write_split(train_path, 430, seed=1)
    test = write_split(test_path, 90, seed=2)
    features = train.drop(columns="target")
    encoder = fit_encoder(lambda columns: iter([features]))
    engines = {
        "local": parquet_rows(str(train_path), "target", encoder.transform, chunk_rows=50),
        "dask": parquet_rows(str(train_path), "target", encoder.transform, client, 50),
    }
    assert isinstance(engines["dask"], DaskRows)
    assert len(engines["dask"].offsets) == 7  # 430 rows in row groups of 70: 7 partitions

    results = {}
    for engine, rows in engines.items():
        cv = KFold(4, shuffle=True, random_state=0)
        fits = {name: fit_rows(name, encoder, rows, alphas=a, cv=cv) for name, a in ALPHAS.items()}
        models = {name: fit.model for name, fit in fits.items()}
        engine_client = client if engine == "dask" else None
        evaluation_rows = parquet_rows(
            str(train_path), "target", partial(design, models), engine_client, 50
        )
        test_rows = parquet_rows(
            str(test_path), "target", partial(design, models), engine_client, 50
        )
        metrics, sample = score_rows(
            {name: model[1:] for name, model in models.items()},
            test_rows,
            baseline=target_mean(evaluation_rows),
            max_points=40,
        )
        results[engine] = {
            "search": {
                name: {"cv": fit.search.test_rmse, "train": fit.search.train_rmse}
                for name, fit in fits.items()
            },
            "alpha": {name: fit.alpha for name, fit in fits.items()},
            "coef": {name: model[-1].coef_ for name, model in models.items()},
            "intercept": {name: model[-1].intercept_ for name, model in models.items()},
            "mean": target_mean(evaluation_rows),
            "test": metrics,
            "plot": {column: sample[column].to_numpy() for column in sample},
            "refits": refit_metrics(
                models,
                evaluation_rows,
                test_rows,
                cv=KFold(5),
                n_bootstrap=15,
                random_state=3,
            ),
        }
    assert_close(results["local"], results["dask"])
    # And the Ridge the cluster fitted is scikit-learn's own fit of the same Pipeline.
    alpha = results["dask"]["alpha"]["ridge"]
    expected = make_pipeline("ridge", alpha=alpha).fit(features, train["target"])
    np.testing.assert_allclose(
        results["dask"]["coef"]["ridge"], expected[-1].coef_, rtol=1e-9, atol=1e-12
    )
    assert results["dask"]["mean"] == pytest.approx(train["target"].mean(), rel=1e-12)
    # The test split scored on the cluster, partition by partition, is scikit-learn's score.
    for name, model in models.items():
        predicted = model.predict(test.drop(columns="target"))
        assert results["dask"]["test"][name]["r2"] == pytest.approx(
            r2_score(test["target"], predicted), rel=1e-12
        )


@pytest.mark.service  # a real dask.distributed LocalCluster on 127.0.0.1
def test_dvc_repro_on_a_dask_cluster_reproduces_the_local_metrics(repo_copy, client) -> None:
    """The real pipeline, engine switched in params.yaml to the running cluster: train_* and
    evaluate rerun (they read `engine`), the other stages do not, and the metrics agree."""
    before = {
        path.name: json.loads(path.read_text()) for path in (repo_copy / "metrics").glob("*.json")
    }
    yaml = YAML()
    params = yaml.load(repo_copy / "params.yaml")
    params["engine"]["name"] = "dask"
    params["engine"]["scheduler_address"] = client.scheduler.address
    yaml.dump(params, repo_copy / "params.yaml")
    result = sh("dvc", "repro", cwd=repo_copy)
    ran = {line.split("'")[1] for line in result.stdout.splitlines() if line.startswith("Running")}
    assert ran == {"train_ols", "train_ridge", "train_lasso", "evaluate"}
    for name in ["train_ols.json", "train_ridge.json", "train_lasso.json", "evaluate.json"]:
        after = json.loads((repo_copy / "metrics" / name).read_text())
        assert_close(before[name], after, name)


def _page_faults(n_arrays: int, size: int) -> int:
    """Page faults while allocating, filling and freeing ``n_arrays`` arrays of ``size`` bytes
    one after another, as a pass's per-block temporaries do."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(n_arrays):
        np.ones(size, dtype=np.uint8)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


@pytest.mark.service  # a real dask.distributed LocalCluster on 127.0.0.1
def test_a_local_cluster_worker_reuses_freed_memory(client: Client) -> None:
    """Dask's nanny sets MALLOC_TRIM_THRESHOLD_ in its workers, which makes glibc map every
    large array afresh, its pages faulting in on every use: the bootstrap pass took 2.3x its
    CPU. The LocalCluster the engine starts keeps glibc's defaults, so once two 8 MB arrays
    have come and gone, the next 48 reuse their pages (they fault 24x as often otherwise)."""
    first = client.run(_page_faults, 2, 8 * 2**20)
    then = client.run(_page_faults, 48, 8 * 2**20)
    environ = client.run(os.environ.get, "MALLOC_TRIM_THRESHOLD_")
    assert len(then) == 2
    for worker, faults in then.items():
        assert faults < first[worker], f"{worker}: {faults} faults, {environ[worker]=}"


def _gram(X: np.ndarray, y: np.ndarray, offset: int) -> np.ndarray:
    """X'X of a chunk, the first partition last to finish (it waits for the others)."""
    if offset == 0:
        time.sleep(1.0)
    return X.T @ X


@pytest.mark.service  # a real dask.distributed LocalCluster on 127.0.0.1
def test_a_pass_sums_the_partitions_in_order_whatever_order_they_finish(tmp_path, client) -> None:
    """The float sum of a pass is the same on every run: partition 0 first, however the
    scheduler ran them (here the first finishes last)."""
    path = tmp_path / "train.parquet"
    features = write_split(path, 430, seed=4)[list("abc")].to_numpy()
    rows = parquet_rows(str(path), "target", lambda X: X[list("abc")], client, 50)
    in_order = sum(X.T @ X for X in np.split(features, range(70, 430, 70)))
    np.testing.assert_array_equal(rows.reduce(_gram, "grams"), in_order)


def test_an_unreachable_scheduler_is_a_params_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # Dask retries a refused connection until the timeout: 1 s proves the message as well as 10.
    monkeypatch.setattr("regpipe.engine.CONNECT_TIMEOUT", "1s")
    engine = parse_section(
        "engine",
        {"name": "dask", "scheduler_address": "tcp://127.0.0.1:9", "n_workers": None},
        Engine,
    )
    unreachable = r"engine.scheduler_address='tcp://127.0.0.1:9': cannot reach"
    with pytest.raises(UserError, match=unreachable), open_engine(engine):
        pass


def test_n_workers_belongs_to_a_local_cluster() -> None:
    raw = {"name": "dask", "scheduler_address": "tcp://10.0.0.5:8786", "n_workers": 4}
    with pytest.raises(UserError, match=r"engine: .*n_workers sizes the LocalCluster"):
        parse_section("engine", raw, Engine)
    with pytest.raises(UserError, match=r"engine.name: Input should be 'local' or 'dask'"):
        parse_section("engine", {**raw, "name": "spark", "scheduler_address": None}, Engine)
