"""The service's settings: params.yaml's ``serve`` section, then ``REGPIPE_SERVE_<KEY>``
variables, then flags; the pipeline's files default to where dvc.yaml puts them."""

import os
from pathlib import Path
from typing import Any

from regpipe.params import PARAMS_FILE, Serve, parse_section, parse_yaml, read_params_file
from regpipe.pipeline_paths import pipeline_paths

ENV_PREFIX = "REGPIPE_SERVE_"
# serve settings that default to a pipeline file -> its name in regpipe.pipeline_paths
PIPELINE_FILES = {
    "model": "safe_champion",
    "model_card": "model_card",
    "train_stats": "train_stats",
}


def load_settings(
    params_file: Path = PARAMS_FILE,
    environ: dict[str, str] | None = None,
    overrides: dict[str, Any] | None = None,
) -> Serve:
    """The ``serve`` section, then ``REGPIPE_SERVE_<KEY>`` variables, then flags, validated."""
    environ = os.environ if environ is None else environ
    raw = dict(read_params_file(params_file).get("serve") or {})
    for key in Serve.model_fields:
        name = ENV_PREFIX + key.upper()
        if (value := environ.get(name)) is not None:  # a YAML scalar, as in params.yaml
            raw[key] = parse_yaml(value, name) if value else None
    raw.update({key: value for key, value in (overrides or {}).items() if value is not None})
    return parse_section("serve", raw, Serve, f"{params_file} + {ENV_PREFIX}* + flags")


def pipeline_files(settings: Serve, repo: Path, rev: str | None = None) -> Serve:
    """``settings`` with the files left null (model, card, training statistics) filled in from
    the pipeline's dvc.yaml (the workspace's, or at ``rev``)."""
    unset = [
        key for key in ("model", "model_card", "train_stats") if getattr(settings, key) is None
    ]
    if not unset:
        return settings
    paths = pipeline_paths(repo, rev)
    return settings.model_copy(update={key: getattr(paths, PIPELINE_FILES[key]) for key in unset})
