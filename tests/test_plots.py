"""The HTML that `dvc plots show` writes renders every plot, with data, in a real headless browser.

DVC's page loads Vega from a CDN, which neither CI nor a developer box offline can reach; the
test swaps those script tags for the same libraries bundled offline by vl-convert (a pinned
PyPI package), renders with Chromium from the system packages, and reads back how many marks
Vega drew in each plot.
"""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.helpers import sh

pytestmark = [pytest.mark.pipeline, pytest.mark.browser]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

# Runs inside the bundle: every vegaEmbed call renders to SVG, and once all have settled the
# page gets a <pre id="render-report"> with, per plot, the number of drawn points, lines, bars.
REPORT_SNIPPET = """
const pending = [];
window.vegaEmbed = (selector, spec, options) => {
  const done = vegaEmbed(selector, spec, {...(options || {}), renderer: "svg"}).then(
    () => {
      const element = document.querySelector(selector);
      return [selector.slice(1), {
        points: element.querySelectorAll(".mark-symbol.role-mark path").length,
        lines: element.querySelectorAll(".mark-line.role-mark path").length,
        bars: element.querySelectorAll(".mark-rect.role-mark path").length,
      }];
    },
    (error) => [selector.slice(1), {error: String(error)}],
  );
  pending.push(done);
  return done;
};
window.addEventListener("load", () => Promise.all(pending).then((results) => {
  const report = document.createElement("pre");
  report.id = "render-report";
  report.textContent = JSON.stringify(Object.fromEntries(results));
  document.body.appendChild(report);
}));
"""


def offline_page(html: str) -> str:
    """DVC's page with its CDN scripts replaced by one inline, instrumented bundle."""
    vl_convert = pytest.importorskip("vl_convert")
    bundle = vl_convert.javascript_bundle(REPORT_SNIPPET, vl_version="5.8")
    html, n_scripts = re.subn(r'<script src="https://cdn[^"]*"></script>\s*', "", html)
    assert n_scripts == 3, "DVC's page layout changed: expected vega, vega-lite, vega-embed"
    return html.replace("</head>", f"<script>{bundle}</script>\n</head>", 1)


def render(page: Path, tmp_path: Path) -> dict:
    """The render report of ``page`` after Chromium ran its scripts (virtual time, no network)."""
    result = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'chromium-profile'}",
            "--virtual-time-budget=20000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    found = re.search(r'<pre id="render-report">(.*?)</pre>', result.stdout, re.S)
    assert found, f"no render report; chromium said:\n{result.stderr[-2000:]}"
    return json.loads(found.group(1).replace("&quot;", '"'))


@pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason="no Chromium: `apt-get install -y chromium` (.ci/run installs it when missing)",
)
def test_dvc_plots_show_renders_every_plot_with_data(built_repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "plots"
    sh("dvc", "plots", "show", "-o", str(out), cwd=built_repo)
    page = tmp_path / "offline.html"
    page.write_text(offline_page((out / "index.html").read_text()))

    report = render(page, tmp_path)

    declared = [
        next(iter(plot)) for plot in yaml.safe_load((built_repo / "dvc.yaml").read_text())["plots"]
    ]
    assert sorted(report) == sorted(declared)
    for name, drawn in report.items():
        assert "error" not in drawn, f"{name}: {drawn['error']}"
        assert drawn["points"] + drawn["bars"] > 0, f"{name}: no data drawn ({drawn})"
    n_test = len((built_repo / "metrics/plots/predictions.csv").read_text().splitlines()) - 1
    assert report["predicted_vs_actual"]["points"] == 3 * n_test
    assert report["residuals_vs_predicted"]["points"] == 3 * n_test
    # One point per alpha of the grid (100) per curve; one per (alpha, feature) on the path.
    assert report["validation_curve_ridge"]["points"] == 200
    assert report["lasso_nonzero_coefficients"]["points"] == 100
    assert report["lasso_coefficient_path"]["points"] == 100 * 10
    # One bar per (drifted column, bin, side).
    n_bars = len((built_repo / "metrics/plots/drift.csv").read_text().splitlines()) - 1
    assert n_bars > 0 and report["drift_distributions"]["bars"] == n_bars

    # `dvc plots diff` builds its page from the same definitions, one plot each.
    diff = tmp_path / "diff"
    sh("dvc", "plots", "diff", "HEAD", "-o", str(diff), cwd=built_repo)
    html = (diff / "index.html").read_text()
    assert all(f'<div id = "{name}">' in html for name in declared)
