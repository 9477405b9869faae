"""`regpipe-mlflow sync`: the pipeline's history as MLflow runs, the GTO registry as MLflow's.

MLflow is a view here, never a source: git (commits, DVC experiment refs, GTO tags) and the files
committed at each revision hold the truth, and a sync only adds what MLflow lacks. One run per
DVC experiment and per commit of the pipeline (a commit that changed `dvc.lock`, `params.yaml` or
`metrics/`, or that a registry tag points to, and that has the metrics files): its params, every
number of its metrics files, the files the pipeline keeps in git (`cache: false` outputs: model
card, plot data, metrics) as artifacts, the git revision and `dvc.lock`'s output hashes as tags.
A run is known by its tag ``regpipe.key`` (``commit:<sha>`` or ``experiment:<sha>``), so a second
sync adds nothing. Each registered version (``champion@vX.Y.Z``) becomes a version of one MLflow
registered model, holding its verified model file and card; each GTO stage becomes an alias
(``prod``, ``staging``, ...) that moves when the tags move.

MLflow is an optional extra (``make setup-mlflow``): nothing else in regpipe imports it.
"""

import argparse
import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from regpipe import registry
from regpipe.errors import UserError, run
from regpipe.params import PARAMS_FILE
from regpipe.pipeline_paths import DVC_LOCK, DVC_YAML, pipeline_paths
from regpipe.registry import git

STORE_DIR = "mlruns"  # git-ignored, beside the repository's files
EXPERIMENT = "regpipe"
KEY_TAG = "regpipe.key"
VERSION_TAG = "gto.version"
# DVC's experiment refs: refs/exps/<2 hex>/<38 hex of the baseline commit>/<name>; queue and
# executor refs (refs/exps/celery/..., refs/exps/exec/...) do not match.
EXP_REF = re.compile(r"^refs/exps/[0-9a-f]{2}/(?P<baseline>[0-9a-f]{38})/(?P<name>[^/]+)$")
# MLflow accepts these characters in metric, param and tag keys.
KEY_CHARS = re.compile(r"[^\w.\- :/]")
BATCH = {"params": 100, "metrics": 1000, "tags": 100}  # MLflow's log_batch limits


@dataclass(frozen=True)
class Source:
    """A revision to mirror as one run: a commit of the pipeline or a DVC experiment."""

    kind: str  # "commit" or "experiment"
    rev: str
    name: str
    time_ms: int
    message: str
    baseline: str | None = None

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.rev}"


@dataclass
class Summary:
    """What a sync did, for the one summary line and for tests."""

    runs_added: dict[str, int] = field(default_factory=lambda: {"commit": 0, "experiment": 0})
    runs_present: int = 0
    versions_added: list[str] = field(default_factory=list)
    versions_removed: list[str] = field(default_factory=list)
    aliases: dict[str, str] = field(default_factory=dict)
    aliases_moved: list[str] = field(default_factory=list)

    def line(self, uri: str) -> str:
        added = self.runs_added
        aliases = " ".join(f"{alias}={version}" for alias, version in sorted(self.aliases.items()))
        return (
            f"mlflow sync: {sum(added.values())} runs added ({added['commit']} commits, "
            f"{added['experiment']} experiments), {self.runs_present} already there; "
            f"model {registry.ARTIFACT!r}: {len(self.versions_added)} versions added, "
            f"{len(self.versions_removed)} removed, {len(self.aliases_moved)} aliases moved "
            f"({aliases or 'none'}) -> {uri}"
        )


def default_tracking_uri(repo: Path) -> str:
    """A SQLite file in the repository's git-ignored ``mlruns/`` folder."""
    return f"sqlite:///{(repo / STORE_DIR / 'mlflow.db').resolve()}"


def _artifact_location(tracking_uri: str) -> str | None:
    """For a SQLite store, artifacts beside the database; a server decides for itself."""
    if not tracking_uri.startswith("sqlite:///"):
        return None
    return (Path(tracking_uri.removeprefix("sqlite:///")).parent / "artifacts").resolve().as_uri()


def _has(repo: Path, rev: str, path: str) -> bool:
    return bool(git(repo, "ls-tree", "--name-only", rev, "--", path).strip())


def _show(repo: Path, rev: str, path: str) -> str:
    return git(repo, "show", f"{rev}:{path}")


def _commit_info(repo: Path, rev: str) -> tuple[int, str]:
    """Commit time in ms and the full message."""
    stamp, _, message = git(repo, "log", "-1", "--format=%ct%n%B", rev).partition("\n")
    return int(stamp) * 1000, message.strip()


@dataclass(frozen=True)
class Candidate:
    """A revision that may become a run: known by its key before any file is read."""

    kind: str
    rev: str
    name: str | None = None
    baseline: str | None = None

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.rev}"


def candidates(repo: Path) -> list[Candidate]:
    """Commits on branches and tags that changed the pipeline or are registered, oldest first,
    then every DVC experiment."""
    watched = [DVC_LOCK, PARAMS_FILE.name, *pipeline_paths(repo).git_outputs]
    changed = git(
        repo, "rev-list", "--full-history", "--branches", "--tags", "--", *watched
    ).split()
    wanted = set(changed) | {item.rev for item in registry.versions(repo)}
    order = git(repo, "rev-list", "--reverse", "--topo-order", "--branches", "--tags").split()
    found = [Candidate("commit", rev) for rev in order if rev in wanted]
    refs = git(repo, "for-each-ref", "--format=%(refname) %(objectname)", "refs/exps")
    for line in refs.splitlines():
        ref, _, rev = line.partition(" ")
        if match := EXP_REF.match(ref):
            baseline = git(repo, "rev-parse", f"{rev}^").strip()
            found.append(Candidate("experiment", rev, match["name"], baseline))
    return found


def source_of(repo: Path, candidate: Candidate) -> Source | None:
    """The run to log for ``candidate``, or None when it lacks a metrics file of its dvc.yaml."""
    paths = set(git(repo, "ls-tree", "-r", "--name-only", candidate.rev).splitlines())
    if DVC_YAML not in paths:
        return None
    files = pipeline_paths(repo, candidate.rev).metrics
    if not files or not paths.issuperset(files):
        return None
    time_ms, message = _commit_info(repo, candidate.rev)
    subject = message.splitlines()[0] if message else ""
    name = candidate.name or f"{candidate.rev[:7]} {subject}"[:250]
    return Source(candidate.kind, candidate.rev, name, time_ms, message, candidate.baseline)


def _key(name: str) -> str:
    return KEY_CHARS.sub("_", name)


def flatten(data: object, prefix: str = "") -> Iterator[tuple[str, object]]:
    """Leaves of nested dicts and lists as (dotted.key, value); list items by index."""
    if isinstance(data, dict):
        for name, value in data.items():
            yield from flatten(value, f"{prefix}.{name}" if prefix else str(name))
    elif isinstance(data, list) and data and all(isinstance(v, dict | list) for v in data):
        for index, value in enumerate(data):
            yield from flatten(value, f"{prefix}.{index}")
    else:
        yield prefix, data


def metric_values(name: str, data: dict) -> dict[str, float]:
    """Every number (booleans as 0/1) of a metrics file, keyed ``<file stem>/<dotted.key>``."""
    stem = Path(name).stem
    values = {}
    for key, value in flatten(data):
        items = enumerate(value) if isinstance(value, list) else [(None, value)]
        for index, item in items:
            if isinstance(item, bool | int | float):
                full = key if index is None else f"{key}.{index}"
                values[_key(f"{stem}/{full}")] = float(item)
    return values


def param_values(params: dict) -> dict[str, str]:
    """params.yaml flattened to dotted keys; lists and nulls as JSON."""
    return {
        _key(key): value if isinstance(value, str) else json.dumps(value)
        for key, value in flatten(params)
    }


def lock_tags(lock: dict) -> dict[str, str]:
    """``dvc.lock:<path>`` -> the hash dvc.lock records for each stage output."""
    tags = {}
    for stage in (lock.get("stages") or {}).values():
        for out in stage.get("outs") or []:
            digest = out.get("md5") or out.get("etag") or out.get("checksum")
            if digest:
                tags[_key(f"dvc.lock:{out['path']}")] = str(digest)
    return tags


def _client(tracking_uri: str):
    try:
        from mlflow import MlflowClient
    except ImportError:
        raise UserError(
            "MLflow is not installed: it is an optional extra, install it with `make setup-mlflow`"
        ) from None
    if tracking_uri.startswith("sqlite:///"):
        Path(tracking_uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def _experiment_id(client, name: str, tracking_uri: str) -> str:
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    return client.create_experiment(name, artifact_location=_artifact_location(tracking_uri))


def _existing_runs(client, experiment_id: str) -> dict[str, object]:
    """Runs of the experiment by their ``regpipe.key``; an unfinished run (an interrupted sync)
    is deleted so that it is made again."""
    runs, token = {}, None
    while True:
        page = client.search_runs([experiment_id], max_results=1000, page_token=token)
        for item in page:
            key = item.data.tags.get(KEY_TAG)
            if key is None:
                continue
            if item.info.status != "FINISHED":
                client.delete_run(item.info.run_id)
            else:
                runs[key] = item
        token = page.token
        if not token:
            return runs


def _log_batches(client, run_id: str, metrics: dict, params: dict, tags: dict, time_ms: int):
    from mlflow.entities import Metric, Param, RunTag

    metric_items = [Metric(k, v, time_ms, 0) for k, v in metrics.items()]
    param_items = [Param(k, v) for k, v in params.items()]
    tag_items = [RunTag(k, v) for k, v in tags.items()]
    for kind, items in (("params", param_items), ("metrics", metric_items), ("tags", tag_items)):
        size = BATCH[kind]
        for start in range(0, len(items), size):
            client.log_batch(run_id, **{kind: items[start : start + size]})


def log_run(client, experiment_id: str, repo: Path, source: Source) -> str:
    """One finished run for ``source``: params, metrics, artifacts, tags; returns its id."""
    pipeline = pipeline_paths(repo, source.rev)
    metrics = {}
    for path in pipeline.metrics:
        metrics |= metric_values(path, json.loads(_show(repo, source.rev, path)))
    params = (
        param_values(yaml.safe_load(_show(repo, source.rev, PARAMS_FILE.name)) or {})
        if _has(repo, source.rev, PARAMS_FILE.name)
        else {}
    )
    tags = {
        KEY_TAG: source.key,
        "regpipe.kind": source.kind,
        "mlflow.source.git.commit": source.rev,
        "mlflow.note.content": source.message,
    }
    if source.kind == "experiment":
        tags |= {"regpipe.experiment": source.name, "regpipe.baseline": source.baseline}
    if _has(repo, source.rev, DVC_LOCK):
        tags |= lock_tags(yaml.safe_load(_show(repo, source.rev, DVC_LOCK)) or {})
    created = client.create_run(
        experiment_id, start_time=source.time_ms, run_name=source.name, tags={KEY_TAG: source.key}
    )
    run_id = created.info.run_id
    _log_batches(client, run_id, metrics, params, tags, source.time_ms)
    with tempfile.TemporaryDirectory(prefix="regpipe-mlflow-") as folder:
        for path in pipeline.git_outputs:
            if _has(repo, source.rev, path):
                target = Path(folder) / path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(git_bytes(repo, source.rev, path))
        if any(Path(folder).iterdir()):
            client.log_artifacts(run_id, folder)
    client.set_terminated(run_id, "FINISHED", end_time=source.time_ms)
    return run_id


def git_bytes(repo: Path, rev: str, path: str) -> bytes:
    """A committed file's exact bytes (``git show`` through text would re-encode them)."""
    return subprocess.run(
        ["git", "show", f"{rev}:{path}"], cwd=repo, capture_output=True, check=True
    ).stdout


def _model_versions(client, name: str) -> dict[str, object]:
    """MLflow versions of the registered model by the GTO version they mirror."""
    found = client.search_model_versions(f"name = '{name}'")
    return {item.tags[VERSION_TAG]: item for item in found if VERSION_TAG in item.tags}


def _add_model_version(client, name: str, repo: Path, version, run) -> None:
    """A version holding the verified model file and the card committed at the tag."""
    where = f"{version.tag} ({version.rev[:12]})"
    card = registry.model_card_at(repo, version.rev, label=where)
    with tempfile.TemporaryDirectory(prefix="regpipe-mlflow-") as folder:
        note = ""
        try:
            registry.fetch_model(repo, version=version.version, out_dir=Path(folder))
        except UserError as error:  # the bytes are neither in the cache nor on the remote
            note = f" The model file is not attached: {error}."
        card_path = pipeline_paths(repo, version.rev).model_card
        (Path(folder) / "model_card.json").write_bytes(git_bytes(repo, version.rev, card_path))
        client.log_artifacts(run.info.run_id, folder, artifact_path="model")
    client.create_model_version(
        name,
        source=f"{run.info.artifact_uri}/model",
        run_id=run.info.run_id,
        tags={VERSION_TAG: version.version, "git.revision": version.rev},
        description=(
            f"{where}: {card.model}, test RMSE {card.test_metrics.rmse}, "
            f"R² {card.test_metrics.r2}.{note}"
        ),
    )


def mirror_registry(client, repo: Path, runs: dict[str, object], summary: Summary) -> None:
    """GTO versions -> MLflow model versions; GTO stages -> aliases, moved or removed to match."""
    from mlflow.exceptions import MlflowException

    name = registry.ARTIFACT
    registered = registry.versions(repo)
    try:
        client.get_registered_model(name)
    except MlflowException:
        if not registered:
            return
        client.create_registered_model(name, description="the GTO registry's champion")
    present = _model_versions(client, name)
    for version in reversed(registered):  # oldest first, so MLflow's numbers follow GTO's order
        if version.version not in present:
            run_of_tag = runs.get(f"commit:{version.rev}")
            if run_of_tag is None:
                raise UserError(
                    f"{name}@{version.version} ({version.rev[:12]}) has no metrics files to log"
                )
            _add_model_version(client, name, repo, version, run_of_tag)
            summary.versions_added.append(version.version)
    known = {version.version for version in registered}
    for gto_version, item in _model_versions(client, name).items():
        if gto_version not in known:
            client.delete_model_version(name, item.version)
            summary.versions_removed.append(gto_version)
    numbers = {v: item.version for v, item in _model_versions(client, name).items()}
    wanted = {stage: version.version for version in registered for stage in version.stages}
    current = dict(client.get_registered_model(name).aliases)
    for alias in current:
        if alias not in wanted:
            client.delete_registered_model_alias(name, alias)
            summary.aliases_moved.append(alias)
    for stage, gto_version in wanted.items():
        if str(current.get(stage)) != str(numbers[gto_version]):
            client.set_registered_model_alias(name, stage, numbers[gto_version])
            summary.aliases_moved.append(stage)
    summary.aliases = wanted


def sync(repo: Path, tracking_uri: str, experiment: str = EXPERIMENT) -> Summary:
    """Add to MLflow every run and model version it lacks; move aliases to match GTO."""
    from tqdm import tqdm

    repo = repo.resolve()
    client = _client(tracking_uri)
    experiment_id = _experiment_id(client, experiment, tracking_uri)
    summary = Summary()
    runs = _existing_runs(client, experiment_id)
    found = candidates(repo)
    missing = [candidate for candidate in found if candidate.key not in runs]
    summary.runs_present = len(found) - len(missing)
    for candidate in tqdm(missing, desc="mlflow runs", unit="run", disable=None, file=sys.stderr):
        source = source_of(repo, candidate)
        if source is not None:
            log_run(client, experiment_id, repo, source)
            summary.runs_added[source.kind] += 1
    if missing:
        runs = _existing_runs(client, experiment_id)
    mirror_registry(client, repo, runs, summary)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(prog="regpipe-mlflow", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    sync_parser = commands.add_parser("sync", help="add missing runs and model versions")
    sync_parser.add_argument(
        "--tracking-uri", help=f"MLflow store or server (default: sqlite in {STORE_DIR}/)"
    )
    sync_parser.add_argument("--repo", type=Path, default=Path("."), help="the git repository")
    sync_parser.add_argument("--experiment", default=EXPERIMENT, help="MLflow experiment name")
    args = parser.parse_args()
    uri = args.tracking_uri or default_tracking_uri(args.repo)
    summary = sync(args.repo, uri, args.experiment)
    print(summary.line(uri))


def main_cli() -> None:
    run(main)


if __name__ == "__main__":
    main_cli()
