"""The service's page for a person, in headless Chromium driven by Playwright.

The service runs for real on 127.0.0.1 with a model that has a categorical column; the browser
fills the form built from /metadata, submits it, and the page must show what POST /predict
answers for the same record (and what scikit-learn predicts), and the API's message for a bad
value. Screenshots are kept in the git-ignored `test-artifacts/` folder.
"""

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from regpipe.contract import infer_contract
from tests.helpers import ROOT
from tests.serving import running_server, write_workspace
from tests.test_serve_categorical import categorical_frame, fit

CHROMIUM = Path(shutil.which("chromium") or "/usr/bin/chromium")
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
KEPT = ROOT / "test-artifacts"

pytestmark = [
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="no Chromium: `apt-get install -y chromium` (.ci/run installs it when missing)",
    ),
    pytest.mark.service,
    pytest.mark.browser,
    pytest.mark.xdist_group("form"),
]


@pytest.fixture(scope="module")
def model_and_frame() -> tuple[object, pd.DataFrame]:
    frame = categorical_frame()
    return fit(frame), frame


@pytest.fixture(scope="module")
def service(
    tmp_path_factory: pytest.TempPathFactory, model_and_frame: tuple[object, pd.DataFrame]
) -> Iterator[httpx.Client]:
    model, frame = model_and_frame
    contract = infer_contract(frame, target="target", max_missing=0.0)
    workspace = write_workspace(
        tmp_path_factory.mktemp("form") / "repo", model, frame, contract=contract
    )
    with running_server(workspace, "--workspace") as client:
        yield client


@pytest.fixture(scope="module")
def page(service: httpx.Client) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        page = browser.new_page(viewport={"width": 900, "height": 760})
        page.set_default_timeout(30_000)
        page.goto(f"{service.base_url}/")
        page.wait_for_selector("#submit:not([disabled])")
        yield page
        browser.close()


def keep_screenshot(page: object, tmp_path: Path, name: str) -> Path:
    """Into the test's tmp dir, and a copy into test-artifacts/ to look at after the run."""
    shot = tmp_path / name
    page.screenshot(path=str(shot), full_page=True)
    KEPT.mkdir(exist_ok=True)
    shutil.copy2(shot, KEPT / name)
    return shot


def test_the_form_is_built_from_the_served_model(page: object, service: httpx.Client) -> None:
    features = service.get("/metadata").json()["features"]
    assert page.locator(".field label").all_inner_texts() == [f["name"] for f in features]
    category = next(f for f in features if f["type"] == "category")
    options = page.locator(f"#field-{category['name']} option").all_inner_texts()
    assert options[1:] == category["levels"]
    for feature in features:
        hint = page.inner_text(f"#hint-{feature['name']}")
        if feature["type"] == "number":
            low, high = feature["training"]["min"], feature["training"]["max"]
            assert hint.startswith(f"training range {float(f'{low:.4g}'):g} to ")
            assert f" to {float(f'{high:.4g}'):g}" in hint
    assert "version workspace" in page.inner_text("#model")


def test_submit_shows_the_api_prediction_and_version(
    page: object,
    service: httpx.Client,
    model_and_frame: tuple[object, pd.DataFrame],
    tmp_path: Path,
) -> None:
    page.fill("#field-x0", "0.5")
    page.select_option("#field-c0", "b")
    page.fill("#field-x1", "-1.25")
    page.click("#submit")
    page.wait_for_selector("#result:not([hidden])")

    shown = float(page.get_attribute("#prediction", "data-value"))
    record = {"x0": 0.5, "c0": "b", "x1": -1.25}
    answer = service.post("/predict", json=record).json()
    assert shown == answer["predictions"][0]
    assert page.inner_text("#model-version") == answer["model_version"] == "workspace"
    assert page.inner_text("#prediction") == f"{shown:.2f}"
    model, _ = model_and_frame
    expected = model.predict(pd.DataFrame([record]))[0]
    np.testing.assert_allclose(shown, expected, rtol=1e-12)
    shot = keep_screenshot(page, tmp_path, "form-prediction.png")
    assert shot.stat().st_size > 10_000


def test_a_bad_value_shows_the_api_message(
    page: object, service: httpx.Client, tmp_path: Path
) -> None:
    page.fill("#field-x0", "0,5")  # a decimal comma: not a number the API accepts
    page.fill("#field-x1", "")
    page.select_option("#field-c0", "a")
    page.click("#submit")
    page.wait_for_selector("#error-x0:not([hidden])")

    refused = service.post("/predict", json={"x0": "0,5", "c0": "a"})
    assert refused.status_code == 422
    messages = {error["field"]: error["message"] for error in refused.json()["errors"]}
    assert page.inner_text("#error-x0") == messages["x0"] == "Input should be a valid number"
    assert page.inner_text("#error-x1") == messages["x1"] == "Field required"
    assert page.get_attribute("#field-x0", "aria-invalid") == "true"
    assert page.is_hidden("#result")
    assert page.is_hidden("#error-c0")
    keep_screenshot(page, tmp_path, "form-error.png")
