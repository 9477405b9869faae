"""The benchmark scripts still start: each imports (its helpers from the tests and the other
scripts included) and has an entry point. A renamed helper once left three of them broken until
someone tried to rerun a figure; they are never run by the suite, so this is their check."""

import importlib
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
# Runs in its own venv with Evidently, which this project does not install (see its docstring).
OWN_VENV = {"evidently_parity"}
SCRIPTS = sorted(path.stem for path in BENCH.glob("*.py") if path.stem not in OWN_VENV)


@pytest.mark.parametrize("name", SCRIPTS)
def test_bench_script_imports(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(BENCH))
    module = importlib.import_module(name)
    source = (BENCH / f"{name}.py").read_text()
    assert callable(getattr(module, "main", None)) or 'if __name__ == "__main__":' in source
    sys.modules.pop(name, None)
