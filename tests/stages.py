"""A clone's pipeline run in this process: `dvc repro`'s numbers without its process per stage.

Each stage's command, as DVC resolves it from dvc.yaml and params.yaml, is run with ``runpy`` in
the order DVC's graph gives, then recorded in dvc.lock by DVC's own `commit` (the evaluate stage
loads a model only if its MD5 is the one dvc.lock records). A stage's process would import
pandas, scikit-learn and regpipe again (~2 s each, eight stages); this pays it once. Tests
about a pipeline's numbers use it; at least one test per kind of input keeps the real
`dvc repro` (tests/README.md).
"""

import contextlib
import runpy
import shlex
import sys
from pathlib import Path

import networkx as nx
from dvc.repo import Repo


def run_stages_in_process(repo: Path) -> None:
    """Every stage of ``repo``'s pipeline, dependencies first; a stage that exits non-zero fails
    the test with its name (its message is on stderr, which pytest shows)."""
    with contextlib.chdir(repo), Repo(".") as dvc_repo:  # DVC reads targets from the cwd
        order = list(reversed(list(nx.topological_sort(dvc_repo.index.graph))))
        for stage in order:
            script, *arguments = shlex.split(stage.cmd)[1:]  # "python stages/x.py ..."
            saved_argv = sys.argv
            sys.argv = [script, *arguments]
            try:
                runpy.run_path(script, run_name="__main__")
            except SystemExit as exit:
                assert exit.code in (0, None), f"stage {stage.addressing} exited {exit.code}"
            finally:
                sys.argv = saved_argv
            dvc_repo.commit(stage.addressing, force=True)
        assert dvc_repo.status() == {}, "dvc status after the stages ran"  # as after a repro
