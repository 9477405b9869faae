"""The Dockerfile built and run for real with podman or docker (skipped when neither is installed;
.ci/run installs podman): a non-root user, the model mounted read-only, the health check healthy,
``/predict`` answering what scikit-learn computes from the same model.

The engine and base image fixtures are in conftest.py (tests/test_deploy.py uses them too).
"""

import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest

from regpipe import deploy
from regpipe.errors import UserError
from regpipe.io import load_model, read_json
from tests.helpers import ROOT, free_port

pytestmark = [pytest.mark.container, pytest.mark.xdist_group("container")]

# The file the service loads (the skops form, never unpickled) and the model card's field that
# /health reports: the artifact's (joblib) SHA-256, the model's identity across its two forms.
SERVED_MODEL, SERVED_HASH = "models/champion.skops", "sha256"
MOUNTED_MODEL = "/model/" + Path(SERVED_MODEL).name
IMAGE = "localhost/regpipe-serve:test"  # one tag, rebuilt from the layer cache by each run


@pytest.fixture(scope="session")
def image(engine: deploy.Engine, base_image: str | None) -> str:
    deploy.build_image(engine, ROOT, IMAGE, base_image)
    return IMAGE


def model_folder(built_repo: Path, folder: Path) -> Path:
    """The workspace champion, its card and statistics, as the container mounts them.

    copy2 keeps the 600 mode the pipeline's atomic writes leave; make_readable must fix it."""
    folder.mkdir()
    for source, name in [
        (SERVED_MODEL, Path(SERVED_MODEL).name),
        ("metrics/model_card.json", "model_card.json"),
        ("data/prepared/train_stats.json", "train_stats.json"),
    ]:
        shutil.copy2(built_repo / source, folder / name)
    deploy.make_readable(folder)
    return folder


@pytest.fixture(scope="module")
def container(
    engine: deploy.Engine, image: str, built_repo: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, httpx.Client, float]]:
    folder = model_folder(built_repo, tmp_path_factory.mktemp("mount") / "model")
    name, port = f"regpipe-test-{os.getpid()}", free_port()
    started = time.monotonic()
    deploy.start_container(engine, image, folder, name=name, port=port, env={})
    try:
        deploy.wait_healthy(engine, name)
        yield name, httpx.Client(base_url=f"http://127.0.0.1:{port}"), time.monotonic() - started
    finally:
        deploy.remove_container(engine, name)


def test_image_runs_as_a_non_root_user_with_a_health_check(
    engine: deploy.Engine, image: str
) -> None:
    (inspected,) = json.loads(engine("image", "inspect", image))
    assert inspected["Config"]["User"] == "regpipe"
    # docker keeps the health check in Config; podman beside it
    healthcheck = inspected["Config"].get("Healthcheck") or inspected["Healthcheck"]
    assert "http://127.0.0.1:8000/health" in " ".join(healthcheck["Test"])


def test_container_is_healthy_and_serves_the_mounted_model(
    engine: deploy.Engine, container: tuple[str, httpx.Client, float], built_repo: Path
) -> None:
    name, client, _ = container
    assert deploy.health_status(engine, name) == "healthy"
    card = read_json(built_repo / "metrics/model_card.json")
    health = client.get("/health").json()
    assert health["sha256"] == card[SERVED_HASH] and health["source"] == "workspace"

    # scikit-learn's own artifact, independent of the file the service loads
    model = load_model(built_repo / "models/champion.joblib", sha256=card["sha256"])
    test = pd.read_parquet(built_repo / "data/prepared/test.parquet")
    X = test[list(model.feature_names_in_)].head(5)
    answer = client.post("/predict", json=X.to_dict("records"))
    assert answer.status_code == 200, answer.text
    expected = model.predict(X)
    assert answer.json()["predictions"] == pytest.approx(expected.tolist(), rel=1e-9)


def test_container_user_is_not_root_and_the_model_is_read_only(
    engine: deploy.Engine, container: tuple[str, httpx.Client, float]
) -> None:
    name, _, _ = container
    assert engine("exec", name, "id", "-un") == "regpipe"
    assert engine("exec", name, "id", "-u") != "0"
    with pytest.raises(UserError, match="Permission denied"):
        engine("exec", name, "touch", MOUNTED_MODEL)
    # Even root inside the container cannot change the model: the mount itself is read-only.
    with pytest.raises(UserError, match="Read-only file system"):
        engine("exec", "--user", "root", name, "touch", MOUNTED_MODEL)
    mounts = json.loads(engine("inspect", "--format", "{{json .Mounts}}", name))
    assert {mount["Destination"]: mount["RW"] for mount in mounts} == {
        "/model": False,
        "/var/log/regpipe": True,  # the image's VOLUME: the prediction log, the one place it writes
    }
    assert "predictions.jsonl" in engine("exec", name, "ls", "/var/log/regpipe")
