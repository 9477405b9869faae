"""The model registry: GTO git tags over the `champion` artifact, and verified model fetching.

A version is an annotated tag `champion@vX.Y.Z` on the commit whose dvc.lock produced the model; a
stage assignment is a tag `champion#<stage>#N` (GTO's format, so `gto show`, `gto history` and
`dvc artifacts get . champion --stage prod` read the same tags). Everything shown is read back
from the tags and from the files committed at each tag's revision: there is no side database.

Nothing here unpickles: a fetched model is the skops file the evaluate stage wrote beside the
artifact, checked against the `skops_sha256` of the model card committed at its revision and
loaded with :func:`regpipe.io.load_safe_model`'s allowlist (``ModelRef.model``).
"""

import hashlib
import json
import subprocess
import time
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

import yaml

from regpipe.errors import UserError
from regpipe.io import atomic_path, loads_safe_model, sha256_file

ARTIFACT = "champion"
# The evaluate stage's outputs, as dvc.yaml declares them (a test checks that they agree).
EVALUATE_METRICS = "metrics/evaluate.json"
MODEL_CARD = "metrics/model_card.json"


class NoRegisteredVersion(UserError):  # noqa: N818 (the name serving relies on)
    """No version is registered, or none is assigned to the stage asked for.

    The prediction service catches it to fall back to the workspace's champion.
    """


@dataclass(frozen=True)
class ModelRef:
    """A model fetched from the registry: its verified skops file, what it is, and the model."""

    name: str
    version: str
    stage: str | None
    rev: str
    path: Path
    sha256: str
    card: dict
    model: object


@dataclass(frozen=True)
class Version:
    """One registered version as the tags and the committed metrics at its revision describe it."""

    repo: Path
    version: str
    rev: str
    created_at: str
    stages: tuple[str, ...]

    @cached_property
    def evaluation(self) -> dict:
        """metrics/evaluate.json as committed at the version's revision (read when first asked)."""
        return committed_json(self.repo, self.rev, EVALUATE_METRICS)


def git(repo: str | Path, *args: str) -> str:
    """Run git in ``repo`` and return its stdout; a failure becomes a UserError with git's words."""
    result = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)
    if result.returncode != 0:
        raise UserError(f"git {' '.join(args)} failed in {repo}: {result.stderr.strip()}")
    return result.stdout


def committed_json(repo: str | Path, rev: str, path: str) -> dict:
    """A JSON file as committed at ``rev`` (metrics live in git, so `git show` is the record)."""
    return json.loads(git(repo, "show", f"{rev}:{path}"))


def artifact_path(repo: str | Path, rev: str, name: str = ARTIFACT) -> str:
    """The path dvc.yaml's `artifacts:` section declares for ``name`` at ``rev``."""
    artifacts = yaml.safe_load(git(repo, "show", f"{rev}:dvc.yaml")).get("artifacts") or {}
    if name not in artifacts:
        raise UserError(f"dvc.yaml at {rev[:12]} declares no artifact {name!r} under artifacts:")
    return artifacts[name]["path"]


def _gto(function, *args, **kwargs):
    """Call a gto.api function; GTO's refusals become UserErrors carrying GTO's message."""
    from gto.exceptions import GTOException

    try:
        return function(*args, **kwargs)
    except GTOException as error:
        raise UserError(f"registry: {error}") from None


def allowed_stages(repo: str | Path) -> list[str]:
    """The stage names the repository's `.gto` config allows (none listed: GTO allows any)."""
    import gto.api

    return list(_gto(gto.api.get_stages, str(repo), allowed=True) or [])


def check_stage(repo: str | Path, stage: str) -> None:
    stages = allowed_stages(repo)
    if stages and stage not in stages:
        raise UserError(f"unknown stage {stage!r}; valid stages (.gto): {', '.join(stages)}")


def versions(repo: str | Path, name: str = ARTIFACT) -> list[Version]:
    """Every registered version, newest first, with the stages it holds now (one GTO read)."""
    import gto.api

    if not git(repo, "tag", "--list", f"{name}@*").strip():
        return []  # GTO cannot tell "no tags yet" from "no such artifact"
    shown = _gto(gto.api.show, str(repo), name, registered_only=True)
    return [
        Version(
            repo=Path(repo),
            version=item["version"],
            rev=item["commit_hexsha"],
            created_at=item["created_at"].isoformat(),
            stages=tuple(sorted({stage["stage"] for stage in item["stages"]})),
        )
        for item in shown
    ]


def _pick(
    registered: list[Version], *, version: str | None = None, stage: str | None = None
) -> Version:
    """The version named, or the one holding ``stage``, among ``registered``."""
    if not registered:
        raise NoRegisteredVersion(f"no version of {ARTIFACT!r} is registered (no git tags)")
    if stage is not None:
        holding = [item for item in registered if stage in item.stages]
        if not holding:
            raise NoRegisteredVersion(f"no version of {ARTIFACT!r} is in stage {stage!r}")
        return holding[0]
    for item in registered:
        if item.version == version:
            return item
    known = ", ".join(item.version for item in registered)
    raise UserError(f"unknown version {version!r} of {ARTIFACT!r}; registered: {known}")


def find_version(
    repo: str | Path, *, version: str | None = None, stage: str | None = None
) -> Version:
    """The registered version named, or the one the stage's latest assignment points to."""
    if (version is None) == (stage is None):
        raise UserError("name exactly one of a version (e.g. v0.0.1) or a stage (e.g. prod)")
    if stage is not None:
        check_stage(repo, stage)
    return _pick(versions(repo), version=version, stage=stage)


def safe_model_path(artifact: str) -> str:
    """Where the evaluate stage writes the skops form of the ``artifact`` (a joblib path)."""
    return str(Path(artifact).with_suffix(".skops"))


def fetch_model(
    repo: str | Path,
    *,
    stage: str | None = None,
    version: str | None = None,
    out_dir: Path,
) -> ModelRef:
    """Write a registered model's skops file into ``out_dir``, verified, and load it safely.

    The bytes come through the DVC API at the version's revision (local cache, else the DVC
    remote); their SHA-256 must equal the `skops_sha256` of metrics/model_card.json committed at
    that revision, and they must load with only allowed types (:func:`regpipe.io.load_safe_model`);
    otherwise nothing is written and a UserError says so. Nothing here unpickles. A version
    registered before the skops model existed is refused: unpickling it is what this avoids.

    Raises:
        NoRegisteredVersion: nothing registered, or nothing assigned to ``stage``.
    """
    import dvc.api

    found = find_version(repo, version=version, stage=stage)
    card = committed_json(repo, found.rev, MODEL_CARD)
    where = f"{ARTIFACT}@{found.version} ({found.rev[:12]})"
    if not card.get("skops_sha256"):
        raise UserError(
            f"{where} has no skops model (registered before it existed) and is never unpickled "
            "here: re-register it from a commit built by `dvc repro`"
        )
    path = safe_model_path(artifact_path(repo, found.rev))
    data = dvc.api.read(path, repo=str(repo), rev=found.rev, mode="rb")
    digest = hashlib.sha256(data).hexdigest()
    if digest != card["skops_sha256"]:
        raise UserError(
            f"{path} at {where}: refusing the model: sha256 {digest} differs from the model "
            f"card's skops_sha256 {card['skops_sha256']}"
        )
    model = loads_safe_model(data, f"{path} at {where}")
    target = Path(out_dir) / f"{ARTIFACT}-{found.version}.skops"
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
    return ModelRef(
        name=ARTIFACT,
        version=found.version,
        stage=stage,
        rev=found.rev,
        path=target,
        sha256=digest,
        card=card,
        model=model,
    )


def _wait_for_a_new_second(repo: str | Path) -> None:
    """Sleep until the clock has passed the newest registry tag's second.

    GTO and `dvc artifacts get` order tags by their time, which git keeps in whole seconds: two
    assignments within one second (promote then rollback) would leave the stage ambiguous.
    """
    newest = git(
        repo,
        "for-each-ref",
        "--sort=-taggerdate",
        "--count=1",
        "--format=%(taggerdate:unix)",
        f"refs/tags/{ARTIFACT}*",
    ).strip()
    if newest:
        while time.time() < int(newest) + 1:
            time.sleep(0.05)


def _refuse_unless_clean(repo: str | Path) -> None:
    """Refuse when git or DVC says the workspace is not exactly what HEAD records."""
    from dvc.repo import Repo

    changed = git(repo, "status", "--porcelain").splitlines()
    if changed:
        lock = [line for line in changed if line[3:] == "dvc.lock"]
        what = "dvc.lock has uncommitted changes" if lock else "the working tree is dirty"
        listing = "\n  ".join(changed[:10])
        raise UserError(f"refusing to register: {what}; commit or stash first:\n  {listing}")
    with Repo(str(repo)) as dvc_repo:
        status = dvc_repo.status()
    if status:
        raise UserError(
            "refusing to register: outputs differ from dvc.lock (`dvc status`) in "
            f"{', '.join(sorted(status))}; run `dvc repro` (or `dvc checkout`) and commit"
        )


def _refuse_failed_gate(evaluation: dict, what: str) -> None:
    gate = evaluation.get("gate", {})
    if not gate.get("passed"):
        reasons = "; ".join(gate.get("reasons") or ["no gate verdict in " + EVALUATE_METRICS])
        raise UserError(f"refusing to {what}: the quality gate failed: {reasons}")


def register(repo: str | Path, *, version: str | None = None) -> Version:
    """Tag HEAD's champion as a new version (GTO bumps the patch number unless ``version``)."""
    import gto.api

    _refuse_unless_clean(repo)
    rev = git(repo, "rev-parse", "HEAD").strip()
    artifact_path(repo, rev)
    _refuse_failed_gate(committed_json(repo, rev, EVALUATE_METRICS), "register HEAD")
    _wait_for_a_new_second(repo)
    event = _gto(gto.api.register, str(repo), ARTIFACT, "HEAD", version=version)
    return Version(Path(repo), event.version, rev, event.created_at.isoformat(), stages=())


def _assign(repo: str | Path, registered: list[Version], version: str, stage: str) -> Version:
    """Assign ``stage`` to ``version`` (one of ``registered``) if its gate passed."""
    import gto.api

    found = _pick(registered, version=version)
    _refuse_failed_gate(found.evaluation, f"promote {version} to {stage}")
    if stage in found.stages:
        raise UserError(f"{ARTIFACT}@{version} is already in stage {stage!r}")
    _wait_for_a_new_second(repo)
    # force: GTO refuses a version that held the stage before without it; a rollback needs that.
    _gto(gto.api.assign, str(repo), ARTIFACT, stage, version=version, force=True)
    return replace(found, stages=tuple(sorted({*found.stages, stage})))


def promote(repo: str | Path, version: str, *, stage: str) -> Version:
    """Assign ``stage`` to ``version``, which must exist and have passed the gate."""
    check_stage(repo, stage)
    return _assign(repo, versions(repo), version, stage)


def previous_version(repo: str | Path, stage: str, current: str) -> str:
    """The version that held ``stage`` before ``current`` did (GTO's assignment history)."""
    import gto.api

    for event in _gto(gto.api.history, str(repo), ARTIFACT):  # newest first
        is_assignment = event["event"] == "assignment" and event["stage"] == stage
        if is_assignment and event["version"] != current:
            return event["version"]
    raise UserError(f"nothing to roll back to: only {current} was ever in stage {stage!r}")


def rollback(repo: str | Path, *, stage: str, to: str | None = None) -> Version:
    """Move ``stage`` back to the version that held it before, or to the version ``to``."""
    check_stage(repo, stage)
    registered = versions(repo)
    current = _pick(registered, stage=stage).version
    return _assign(repo, registered, to or previous_version(repo, stage, current), stage)


def checkout(repo: str | Path, *, version: str | None = None, stage: str | None = None) -> Version:
    """Restore a version's whole workspace: `git checkout <tag>` then `dvc checkout`."""
    from dvc.exceptions import CheckoutError
    from dvc.repo import Repo

    found = find_version(repo, version=version, stage=stage)
    if git(repo, "status", "--porcelain", "--untracked-files=no").strip():
        raise UserError("refusing to check out: the working tree has uncommitted changes")
    git(repo, "checkout", "--quiet", f"{ARTIFACT}@{found.version}")
    try:
        with Repo(str(repo)) as dvc_repo:
            dvc_repo.checkout(force=True)
    except CheckoutError as error:
        raise UserError(f"{error}\nthe DVC cache lacks these files: run `dvc pull`") from None
    model = Path(repo) / artifact_path(repo, found.rev)
    if sha256_file(model) != committed_json(repo, found.rev, MODEL_CARD).get("sha256"):
        raise UserError(f"{model}: sha256 differs from the model card after dvc checkout")
    return found
