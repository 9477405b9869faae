"""Where the pipeline's files are: read from dvc.yaml, the one place that names them.

Each stage gets its paths as command-line flags in dvc.yaml (``--out-metrics
metrics/evaluate.json``); everything else that needs a pipeline file (the registry, the
pull-request report, the sweep leaderboard, the service, MLflow, deploy) asks this module, which
reads the same flags, so moving a file means editing dvc.yaml only. dvc.yaml is parsed as YAML
(no DVC import: the service image has no DVC, and importing it costs a second); a flag's value
with a ``${...}`` template is returned as written.
"""

import shlex
import subprocess
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import yaml

from regpipe.errors import UserError

# DVC's own file names: fixed by DVC, beside each other at the repository's root.
DVC_YAML = "dvc.yaml"
DVC_LOCK = "dvc.lock"


def stage_flags(cmd: str | list[str]) -> dict[str, list[str]]:
    """A stage command's ``--flag value`` pairs: flag -> its values in order (a flag may repeat)."""
    argv = shlex.split(cmd) if isinstance(cmd, str) else [a for c in cmd for a in shlex.split(c)]
    flags: dict[str, list[str]] = {}
    for flag, value in zip(argv, argv[1:], strict=False):
        if flag.startswith("--") and not value.startswith("--"):
            flags.setdefault(flag, []).append(value)
    return flags


@dataclass(frozen=True)
class PipelinePaths:
    """The paths dvc.yaml gives its stages; ``source`` names the file in errors."""

    dvc_yaml: dict
    source: str

    @cached_property
    def flags(self) -> dict[str, dict[str, list[str]]]:
        stages = self.dvc_yaml.get("stages") or {}
        return {name: stage_flags(stage.get("cmd", "")) for name, stage in stages.items()}

    def arg(self, stage: str, flag: str) -> str:
        """The value dvc.yaml passes to ``stage`` as ``flag`` (its first, if repeated)."""
        values = self.flags.get(stage, {}).get(flag)
        if not values:
            raise UserError(f"{self.source}: stage {stage!r} has no {flag} in its cmd")
        return values[0]

    @property
    def evaluate_metrics(self) -> str:
        return self.arg("evaluate", "--out-metrics")

    @property
    def model_card(self) -> str:
        return self.arg("evaluate", "--out-card")

    @property
    def champion(self) -> str:
        return self.arg("evaluate", "--out-champion")

    @property
    def safe_champion(self) -> str:
        """The skops form of the champion: what is served, never unpickled."""
        return self.arg("evaluate", "--out-safe-champion")

    @property
    def train_stats(self) -> str:
        return self.arg("prepare", "--out-stats")

    @property
    def drift_metrics(self) -> str:
        return self.arg("drift", "--out-metrics")

    def train_metrics(self, section: str) -> str:
        """metrics of the train stage ``section`` (train_ridge): chosen alpha, CV scores."""
        return self.arg(section, "--out-metrics")

    @property
    def metrics(self) -> list[str]:
        """The metrics files of every stage, in dvc.yaml's order."""
        files = []
        for stage in (self.dvc_yaml.get("stages") or {}).values():
            for entry in stage.get("metrics") or []:
                files.extend([entry] if isinstance(entry, str) else entry)
        return files

    @property
    def git_outputs(self) -> list[str]:
        """Every output the pipeline keeps in git (``cache: false``): metrics, card, plot data."""
        files = []
        for stage in (self.dvc_yaml.get("stages") or {}).values():
            for kind in ("outs", "metrics", "plots"):
                for entry in stage.get(kind) or []:
                    if isinstance(entry, dict):
                        files.extend(p for p, opts in entry.items() if opts.get("cache") is False)
        return files

    def artifact(self, name: str) -> str:
        """The path dvc.yaml's ``artifacts:`` section declares for ``name``."""
        artifacts = self.dvc_yaml.get("artifacts") or {}
        if name not in artifacts:
            raise UserError(f"{self.source} declares no artifact {name!r} under artifacts:")
        return artifacts[name]["path"]


def pipeline_paths(repo: str | Path = ".", rev: str | None = None) -> PipelinePaths:
    """The paths of the pipeline in ``repo``: its workspace dvc.yaml, or as committed at ``rev``."""
    if rev is None:
        source = str(Path(repo) / DVC_YAML)
        try:
            text = Path(source).read_text()
        except OSError as error:
            raise UserError(f"{source}: cannot read the pipeline: {error.strerror}") from None
    else:
        source = f"{DVC_YAML} at {rev[:12]}"
        shown = subprocess.run(
            ["git", "show", f"{rev}:{DVC_YAML}"], cwd=repo, capture_output=True, text=True
        )
        if shown.returncode != 0:
            raise UserError(f"{source}: cannot read the pipeline: {shown.stderr.strip()}")
        text = shown.stdout
    try:
        return PipelinePaths(yaml.safe_load(text) or {}, source)
    except yaml.YAMLError as error:
        raise UserError(f"{source}: not valid YAML: {error}") from None
