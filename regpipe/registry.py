"""The model registry: GTO git tags over the `champion` artifact, and verified model fetching.

A version is an annotated tag `champion@vX.Y.Z` on the commit whose dvc.lock produced the model; a
stage assignment is a tag `champion#<stage>#N` (GTO's format, so `gto show`, `gto history` and
`dvc artifacts get . champion --stage prod` read the same tags). Everything shown is read back
from the tags and from the files committed at each tag's revision: there is no side database.

Nothing here unpickles: a fetched model is the skops file the evaluate stage wrote beside the
artifact, checked against the `skops_sha256` of the model card committed at its revision and
loaded with :func:`regpipe.io.load_safe_model`'s allowlist (``ModelRef.model``).

Optional trust root: with an allowed-signers file (git's format, `serve.allowed_signers`), a
version is used only when its version tag and the stage tag that selected it carry an SSH
signature that `git tag -v` verifies against that file; `register/promote --sign` sign them.
"""

import hashlib
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

from regpipe.errors import UserError
from regpipe.io import atomic_path, loads_safe_model, sha256_file
from regpipe.pipeline_paths import pipeline_paths
from regpipe.reports import Evaluation, ModelCard, committed_report

ARTIFACT = "champion"


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
    card: ModelCard
    model: object


@dataclass(frozen=True)
class Version:
    """One registered version as the tags and the committed metrics at its revision describe it."""

    repo: Path
    version: str
    rev: str
    created_at: str
    stages: tuple[str, ...]
    # stage -> the `champion#<stage>#N` tag that put this version there (GTO's latest assignment)
    stage_tags: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def tag(self) -> str:
        return f"{ARTIFACT}@{self.version}"

    @cached_property
    def evaluation(self) -> Evaluation:
        """metrics/evaluate.json as committed at the version's revision (read when first asked)."""
        return evaluation_at(self.repo, self.rev, label=f"{self.tag} ({self.rev[:12]})")


def git(repo: str | Path, *args: str) -> str:
    """Run git in ``repo`` and return its stdout; a failure becomes a UserError with git's words."""
    result = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)
    if result.returncode != 0:
        raise UserError(f"git {' '.join(args)} failed in {repo}: {result.stderr.strip()}")
    return result.stdout


def evaluation_at(repo: str | Path, rev: str, label: str | None = None) -> Evaluation:
    """The evaluate stage's metrics as committed at ``rev``, where that rev's dvc.yaml puts them."""
    path = pipeline_paths(repo, rev).evaluate_metrics
    return committed_report(Evaluation, repo, rev, path, label=label)


def model_card_at(repo: str | Path, rev: str, label: str | None = None) -> ModelCard:
    """The champion's model card as committed at ``rev``; one that does not fit is refused in
    one line naming the file and ``label`` (the version) or the revision."""
    path = pipeline_paths(repo, rev).model_card
    return committed_report(ModelCard, repo, rev, path, label=label)


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


class UntrustedVersion(UserError):  # noqa: N818 (a refusal, read as "the version is untrusted")
    """A registry tag is unsigned, or signed by a key the allowed-signers file does not list."""


class _FromParams:
    """fetch_model's default trust root: `serve.allowed_signers` of the repository's params.yaml."""


FROM_PARAMS = _FromParams()
# `git tag -v` names the key of a signature it could not match to an allowed signer.
SIGNING_KEY = re.compile(r"with (\S+) key (SHA256:\S+)")
SSH_SIGNATURE = "-----BEGIN SSH SIGNATURE-----"


def trust_root(repo: str | Path) -> Path | None:
    """`serve.allowed_signers` (params.yaml, or REGPIPE_SERVE_ALLOWED_SIGNERS), against ``repo``."""
    from regpipe.params import PARAMS_FILE
    from regpipe.serve import load_settings

    path = load_settings(Path(repo) / PARAMS_FILE).allowed_signers
    return None if path is None else Path(repo, path)


def verify_tags(repo: str | Path, tags: list[str], allowed_signers: Path) -> None:
    """Refuse unless git verifies every tag's SSH signature against ``allowed_signers``."""
    if not allowed_signers.is_file():
        raise UntrustedVersion(f"serve.allowed_signers: {allowed_signers}: no such file")
    signers = f"gpg.ssh.allowedSignersFile={allowed_signers.resolve()}"
    for tag in tags:
        verified = subprocess.run(
            ["git", "-c", "gpg.format=ssh", "-c", signers, "tag", "-v", tag],
            cwd=repo,
            capture_output=True,
            text=True,
        )
        if verified.returncode == 0:
            continue
        key = SIGNING_KEY.search(verified.stderr)
        if key:
            why = f"signed by an unknown {key[1]} key {key[2]} (not in {allowed_signers})"
        elif "no signature found" in verified.stderr:
            why = "not signed"
        else:
            why = "signature not verified: " + " ".join(verified.stderr.split())[:300]
        tagger = git(
            repo, "for-each-ref", "--format=%(taggername) %(taggeremail)", f"refs/tags/{tag}"
        ).strip()
        raise UntrustedVersion(f"refusing {tag}: {why}; tagger {tagger or 'unknown'}")


def trusted_version(
    repo: str | Path,
    *,
    version: str | None = None,
    stage: str | None = None,
    allowed_signers: Path | None,
) -> Version:
    """find_version, then (with a trust root) the version tag and the stage tag verified."""
    found = find_version(repo, version=version, stage=stage)
    if allowed_signers is not None:
        stage_tags = [found.stage_tags[stage]] if stage is not None else []
        verify_tags(repo, [found.tag, *stage_tags], allowed_signers)
    return found


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
            stage_tags={stage["stage"]: stage["ref"] for stage in item["stages"]},
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


def fetch_model(
    repo: str | Path,
    *,
    stage: str | None = None,
    version: str | None = None,
    out_dir: Path,
    allowed_signers: Path | None | _FromParams = FROM_PARAMS,
) -> ModelRef:
    """Write a registered model's skops file into ``out_dir``, verified, and load it safely.

    With a trust root (``allowed_signers``, by default `serve.allowed_signers` of params.yaml)
    the version's tags must be signed by one of its keys first. The bytes come through the DVC
    API at the version's revision (local cache, else the DVC remote); their SHA-256 must equal the
    `skops_sha256` of metrics/model_card.json committed at that revision, and they must load with
    only allowed types (:func:`regpipe.io.load_safe_model`); otherwise nothing is written and a
    UserError says so. Nothing here unpickles. A version registered before the skops model
    existed is refused: unpickling it is what this avoids.

    Raises:
        NoRegisteredVersion: nothing registered, or nothing assigned to ``stage``.
        UntrustedVersion: a tag unsigned or signed by a key outside the trust root.
    """
    if isinstance(allowed_signers, _FromParams):
        allowed_signers = trust_root(repo)
    found = trusted_version(repo, version=version, stage=stage, allowed_signers=allowed_signers)
    where = f"{found.tag} ({found.rev[:12]})"
    card = model_card_at(repo, found.rev, label=where)
    if not card.skops_sha256:
        raise UserError(
            f"{where} has no skops model (registered before it existed) and is never unpickled "
            "here: re-register it from a commit built by `dvc repro`"
        )
    path = pipeline_paths(repo, found.rev).safe_champion
    data = read_output(repo, path, rev=found.rev, tag=found.tag)
    digest = hashlib.sha256(data).hexdigest()
    if digest != card.skops_sha256:
        raise UserError(
            f"{path} at {where}: refusing the model: sha256 {digest} differs from the model "
            f"card's skops_sha256 {card.skops_sha256}"
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


def default_remote(repo: str | Path) -> tuple[str, str]:
    """The default DVC remote's name and URL as the workspace's config resolves it."""
    from dvc.repo import Repo

    with Repo(str(repo)) as dvc_repo:
        name = dvc_repo.config["core"].get("remote")
        if not name:
            raise UserError("no default DVC remote: `dvc remote add -d NAME URL`")
        return name, dvc_repo.config["remote"][name]["url"]


def _first_line(error: Exception) -> str:
    """DVC's messages can run to many lines; the first names the problem."""
    return (str(error).splitlines() or [type(error).__name__])[0]


def read_output(repo: str | Path, path: str, *, rev: str, tag: str) -> bytes:
    """A DVC output's bytes at revision ``rev`` (of tag ``tag``): the local cache, else the
    default remote."""
    import dvc.api
    from dvc.exceptions import DvcException, PathMissingError

    try:
        return dvc.api.read(path, repo=str(repo), rev=rev, mode="rb")
    except (PathMissingError, FileNotFoundError):
        name, url = default_remote(repo)
        raise UserError(
            f"{tag}: {path} is neither in the local DVC cache nor on the DVC remote "
            f"{name!r} ({url}); the publisher runs `regpipe-registry publish`"
        ) from None
    except DvcException as error:
        raise UserError(f"{tag}: reading {path} through DVC failed: {_first_line(error)}") from None


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


def _refuse_failed_gate(evaluation: Evaluation, what: str) -> None:
    if not evaluation.gate.passed:
        reasons = "; ".join(evaluation.gate.reasons or ["no reason recorded"])
        raise UserError(f"refusing to {what}: the quality gate failed: {reasons}")


def _require_signing_key(repo: str | Path) -> None:
    """Refuse --sign before any tag exists when git has no key to sign with."""
    key = subprocess.run(
        ["git", "config", "user.signingkey"], cwd=repo, capture_output=True, text=True
    ).stdout.strip()
    if not key:
        raise UserError("--sign needs an SSH key: git config user.signingkey ~/.ssh/id_ed25519.pub")


def _sign(repo: str | Path, tag: str) -> None:
    """Replace the tag GTO just wrote by the same tag SSH-signed (git's own tag signing).

    GTO writes its tags without git's CLI and has no signing option, so git rewrites the one
    new tag with GTO's name, message and target: `gto show` reads it as before. When signing
    fails the unsigned tag is deleted, so nothing unsigned is left behind.
    """
    message = git(repo, "tag", "--list", "--format=%(contents)", tag).strip()
    target = git(repo, "rev-parse", f"{tag}^{{commit}}").strip()
    signed = subprocess.run(
        ["git", "-c", "gpg.format=ssh", "tag", "--force", "--sign", "-m", message, tag, target],
        cwd=repo,
        capture_output=True,
        text=True,
    )
    if signed.returncode != 0 or SSH_SIGNATURE not in git(repo, "cat-file", "tag", tag):
        git(repo, "tag", "--delete", tag)
        problem = " ".join(signed.stderr.split())[:300]
        raise UserError(f"{tag}: SSH signing failed, the tag was removed: {problem}")


def register(repo: str | Path, *, version: str | None = None, sign: bool = False) -> Version:
    """Tag HEAD's champion as a new version (GTO bumps the patch number unless ``version``)."""
    import gto.api

    _refuse_unless_clean(repo)
    rev = git(repo, "rev-parse", "HEAD").strip()
    pipeline_paths(repo, rev).artifact(ARTIFACT)
    _refuse_failed_gate(evaluation_at(repo, rev), "register HEAD")
    if sign:
        _require_signing_key(repo)
    _wait_for_a_new_second(repo)
    event = _gto(gto.api.register, str(repo), ARTIFACT, "HEAD", version=version)
    registered = Version(Path(repo), event.version, rev, event.created_at.isoformat(), stages=())
    if sign:
        _sign(repo, registered.tag)
    return registered


def _assign(
    repo: str | Path, registered: list[Version], version: str, stage: str, sign: bool
) -> Version:
    """Assign ``stage`` to ``version`` (one of ``registered``) if its gate passed."""
    import gto.api

    found = _pick(registered, version=version)
    _refuse_failed_gate(found.evaluation, f"promote {version} to {stage}")
    if stage in found.stages:
        raise UserError(f"{ARTIFACT}@{version} is already in stage {stage!r}")
    if sign:
        _require_signing_key(repo)
    _wait_for_a_new_second(repo)
    # force: GTO refuses a version that held the stage before without it; a rollback needs that.
    event = _gto(gto.api.assign, str(repo), ARTIFACT, stage, version=version, force=True)
    if sign:
        _sign(repo, event.ref)
    return replace(
        found,
        stages=tuple(sorted({*found.stages, stage})),
        stage_tags={**found.stage_tags, stage: event.ref},
    )


def promote(repo: str | Path, version: str, *, stage: str, sign: bool = False) -> Version:
    """Assign ``stage`` to ``version``, which must exist and have passed the gate."""
    check_stage(repo, stage)
    return _assign(repo, versions(repo), version, stage, sign)


def previous_version(repo: str | Path, stage: str, current: str) -> str:
    """The version that held ``stage`` before ``current`` did (GTO's assignment history)."""
    import gto.api

    for event in _gto(gto.api.history, str(repo), ARTIFACT):  # newest first
        is_assignment = event["event"] == "assignment" and event["stage"] == stage
        if is_assignment and event["version"] != current:
            return event["version"]
    raise UserError(f"nothing to roll back to: only {current} was ever in stage {stage!r}")


def rollback(repo: str | Path, *, stage: str, to: str | None = None, sign: bool = False) -> Version:
    """Move ``stage`` back to the version that held it before, or to the version ``to``."""
    check_stage(repo, stage)
    registered = versions(repo)
    current = _pick(registered, stage=stage).version
    return _assign(repo, registered, to or previous_version(repo, stage, current), stage, sign)


def unsaved_outputs(repo: str | Path) -> list[str]:
    """Files of DVC outputs that differ from dvc.lock and whose bytes no cache holds.

    They are what a forced `dvc checkout` would destroy: the same test `dvc checkout` makes
    before it asks for `--force`, made here before git moves HEAD.
    """
    from dvc.repo import Repo
    from dvc.repo.index import build_data_index, index_from_targets
    from dvc_data.index.checkout import compare

    with Repo(str(repo)) as dvc_repo:
        view = index_from_targets(dvc_repo)
        workspace = build_data_index(view, dvc_repo.root_dir, dvc_repo.fs, compute_hash=True)
        recorded = view.data["repo"]
        diff = compare(workspace, recorded, delete=True)
        unsaved = []
        for entry in diff.files_delete:
            try:
                cache_fs, cache_path = recorded.storage_map.get_cache(entry)
            except ValueError:
                continue
            if not cache_fs.exists(cache_path):
                unsaved.append("/".join(entry.key or ()))
    return sorted(unsaved)


def checkout(
    repo: str | Path,
    *,
    version: str | None = None,
    stage: str | None = None,
    force: bool = False,
    allowed_signers: Path | None = None,
) -> Version:
    """Restore a version's whole workspace: `git checkout <tag>` then `dvc pull`.

    Refuses, before anything moves, when an output holds bytes no cache has (``force``: lose
    them), and with a trust root when the version's tags are not signed by an allowed key.
    """
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    found = trusted_version(repo, version=version, stage=stage, allowed_signers=allowed_signers)
    if git(repo, "status", "--porcelain", "--untracked-files=no").strip():
        raise UserError("refusing to check out: the working tree has uncommitted changes")
    unsaved = [] if force else unsaved_outputs(repo)
    if unsaved:
        raise UserError(
            "refusing to check out: these outputs differ from dvc.lock and are in no cache, "
            f"checking out would lose them: {', '.join(unsaved)}; `dvc commit` them to keep "
            "them, or --force to discard"
        )
    card = model_card_at(repo, found.rev, label=f"{found.tag} ({found.rev[:12]})")  # before moving
    git(repo, "checkout", "--quiet", found.tag)
    try:
        with Repo(str(repo)) as dvc_repo:
            dvc_repo.pull(force=True)  # what the cache lacks comes from the default remote
    except DvcException as error:
        name, url = default_remote(repo)
        raise UserError(
            f"{found.tag}: the DVC cache and the remote {name!r} ({url}) lack outputs: "
            f"{_first_line(error)} (`dvc status -c` lists them)"
        ) from None
    model = Path(repo) / pipeline_paths(repo, found.rev).artifact(ARTIFACT)
    if sha256_file(model) != card.sha256:
        raise UserError(f"{model}: sha256 differs from the model card after dvc checkout")
    return found


@dataclass(frozen=True)
class Published:
    """What `publish` sent: the versions, the tags (new on the git remote), the DVC objects."""

    versions: int
    tags: int
    new_tags: int
    objects: int
    git_remote: str
    dvc_remote: str
    dvc_url: str


def publish(repo: str | Path, *, git_remote: str = "origin") -> Published:
    """Push every registered version's DVC objects to the default remote, then the registry tags.

    The objects are those of every DVC output in dvc.lock at each version's revision, so a
    consumer can fetch any version (a rollback needs the old ones). Objects go first: a tag
    never reaches the git remote before what it names is on the DVC remote. The remote's URL is
    the one the workspace's config resolves to, pinned for every revision (a relative URL read
    from another commit would resolve against another base).
    """
    from dvc.exceptions import DvcException
    from dvc.repo import Repo
    from tqdm import tqdm

    registered = versions(repo)
    if not registered:
        raise NoRegisteredVersion(f"nothing to publish: no version of {ARTIFACT!r} is registered")
    name, url = default_remote(repo)
    objects = 0
    with Repo(str(repo), remote=name, remote_config={"url": url}) as dvc_repo:
        for item in tqdm(registered, desc=f"dvc push to {name}", unit="version", file=sys.stderr):
            try:
                objects += dvc_repo.push(revs=[item.rev], workspace=False, remote=name)
            except DvcException as error:
                raise UserError(
                    f"{item.tag}: dvc push to {name!r} ({url}) failed: {_first_line(error)}"
                ) from None
    tags = git(repo, "tag", "--list", f"{ARTIFACT}@*", f"{ARTIFACT}#*").split()
    print(f"git push {git_remote}: {len(tags)} registry tags", file=sys.stderr)
    pushed = git(repo, "push", "--porcelain", git_remote, *(f"refs/tags/{tag}" for tag in tags))
    new_tags = sum(line.startswith("*\t") for line in pushed.splitlines())
    return Published(len(registered), len(tags), new_tags, objects, git_remote, name, url)
