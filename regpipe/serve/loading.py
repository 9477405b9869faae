"""Which model is served, and why it is trusted: the registry's verified version, or the
workspace champion whose card is the one committed at HEAD. No model file is unpickled here."""

import json
import subprocess
import tempfile
from pathlib import Path

from regpipe.errors import UserError
from regpipe.io import load_safe_model, read_json
from regpipe.params import Serve
from regpipe.reports import ModelCard, NotCommitted, committed_report, read_report
from regpipe.serve.model import ServedModel
from regpipe.serve.settings import pipeline_files

WORKSPACE_VERSION = "workspace"


def git_revision(repo: Path) -> str | None:
    """HEAD of ``repo``, or None outside a git checkout (a container with a mounted model)."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return result.stdout.strip()


def committed_card(repo: Path, card_path: str) -> ModelCard:
    """The workspace's model card, refused unless it is the one committed at HEAD.

    The card names the model file's hash, so trusting an uncommitted card would trust any file.
    Outside a git checkout (a container with a mounted model and card) the mounted card is what
    the operator chose to trust. Either way a card that does not fit ModelCard is refused in
    one line naming it.
    """
    workspace_card = read_report(ModelCard, repo / card_path)
    if git_revision(repo) is None:
        return workspace_card
    try:
        card = committed_report(ModelCard, repo, "HEAD", f"./{card_path}", label="HEAD")
    except NotCommitted:
        raise UserError(
            f"{card_path}: not committed at HEAD: --workspace trusts only the model card in git; "
            "commit the pipeline's outputs first"
        ) from None
    if card != workspace_card:
        raise UserError(
            f"{card_path}: differs from the card committed at HEAD, which is the only one "
            "--workspace trusts: commit it, or `git checkout` it and `dvc checkout`"
        )
    return card


def load_served_model(settings: Serve, repo: Path = Path(".")) -> ServedModel:
    """The model to serve: the registry's (stage or version), else the workspace champion."""
    if not settings.use_registry:
        note = "serve.use_registry is false: serving the workspace champion"
    else:
        from regpipe.registry import NoRegisteredVersion, fetch_model, read_output

        stage = None if settings.version else settings.stage
        signers = repo / settings.allowed_signers if settings.allowed_signers else None
        try:
            with tempfile.TemporaryDirectory(prefix="regpipe-serve-") as out_dir:
                ref = fetch_model(
                    repo,
                    stage=stage,
                    version=settings.version,
                    out_dir=out_dir,
                    allowed_signers=signers,
                )
        except NoRegisteredVersion as error:
            if settings.version or signers:  # a trust root never falls back to unsigned files
                raise
            note = f"{error}: serving the workspace champion"
        else:
            # The version's own training statistics: a fresh clone has no workspace outputs.
            tag = f"{ref.name}@{ref.version}"
            stats_path = pipeline_files(settings, repo, rev=ref.rev).train_stats
            stats = read_output(repo, stats_path, rev=ref.rev, tag=tag)
            return ServedModel(
                model=ref.model,
                name=ref.name,
                version=ref.version,
                stage=ref.stage,
                source="registry",
                git_revision=ref.rev,
                sha256=ref.card.sha256,
                card=ref.card,
                training_stats=json.loads(stats),
                note=None,
            )
    settings = pipeline_files(settings, repo)
    training_stats = read_json(repo / settings.train_stats)
    card = committed_card(repo, settings.model_card)
    if not card.skops_sha256:
        raise UserError(
            f"{settings.model_card}: no skops_sha256: the card predates the skops model; "
            "run `dvc repro` and commit"
        )
    try:
        model = load_safe_model(repo / settings.model, sha256=card.skops_sha256)
    except UserError as error:
        raise UserError(f"{error} (the card committed at HEAD)") from None
    return ServedModel(
        model=model,
        name=card.artifact,
        version=WORKSPACE_VERSION,
        stage=None,
        source="workspace",
        git_revision=git_revision(repo),
        sha256=card.sha256,
        card=card,
        training_stats=training_stats,
        note=note,
    )
