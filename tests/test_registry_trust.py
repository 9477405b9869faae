"""The registry's trust root (SSH-signed tags verified by git) and a checkout that loses nothing.

Real git, ssh-keygen, dvc and gto on temporary clones; the keys are throwaway ed25519 keys.
"""

import hashlib
import json
import shutil
from pathlib import Path

import gto.api
import pytest
import yaml

from regpipe import registry
from regpipe.serve import load_served_model, load_settings
from tests.helpers import commit_all, edit_params, sh
from tests.test_registry import cli, refused

pytestmark = pytest.mark.skipif(not shutil.which("ssh-keygen"), reason="needs ssh-keygen")


def ssh_key(directory: Path, name: str) -> tuple[Path, str]:
    """A new passphrase-less ed25519 key: its private key file and its SHA256 fingerprint."""
    key = directory / name
    sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key), cwd=directory)
    fingerprint = sh("ssh-keygen", "-lf", f"{key}.pub", cwd=directory).stdout.split()[1]
    return key, fingerprint


def use_key(repo: Path, key: Path) -> None:
    sh("git", "config", "user.signingkey", str(key), cwd=repo)


def test_signed_tags_are_served_and_unsigned_or_foreign_ones_refused(
    repo_copy: Path, tmp_path: Path
) -> None:
    repo, keys = repo_copy, tmp_path / "keys"
    keys.mkdir()
    alice, _ = ssh_key(keys, "alice")
    mallory, mallory_fingerprint = ssh_key(keys, "mallory")
    signers = keys / "allowed_signers"
    signers.write_text(f"alice@example.com {(keys / 'alice.pub').read_text()}")
    edit_params(repo / "params.yaml", {"serve.allowed_signers": str(signers)})
    commit_all(repo, "trust root: alice's key")

    assert "--sign needs an SSH key" in refused(repo, "register", "--sign")
    use_key(repo, alice)
    cli(repo, "register", "--sign")
    cli(repo, "promote", "v0.0.1", "--stage", "prod", "--sign")
    verified = sh(
        "git", "-c", "gpg.format=ssh", "-c", f"gpg.ssh.allowedSignersFile={signers}",
        "tag", "-v", "champion#prod#1", cwd=repo,
    )  # fmt: skip
    assert 'Good "git" signature for alice@example.com' in verified.stderr
    # The signed tags are still GTO's: gto reads them as before.
    shown = json.loads(sh("gto", "show", "champion", "--json", cwd=repo).stdout)
    assert [(v["version"], [s["stage"] for s in v["stages"]]) for v in shown] == [
        ("v0.0.1", ["prod"])
    ]
    v1 = registry.fetch_model(repo, stage="prod", out_dir=tmp_path / "v1")  # params' trust root
    card = registry.model_card_at(repo, "champion@v0.0.1")
    assert (v1.version, v1.sha256) == ("v0.0.1", card.skops_sha256)
    cli(repo, "checkout", "--stage", "prod", "--model-only", "-o", str(tmp_path / "cli"))
    settings = load_settings(repo / "params.yaml")
    assert load_served_model(settings, repo).version == "v0.0.1"

    # Someone with push access but not the key: a new version, signed, assigned without a signature.
    sh("git", "commit", "-q", "--allow-empty", "-m", "same model, new commit", cwd=repo)
    registry.register(repo, sign=True)
    gto.api.assign(str(repo), "champion", "prod", version="v0.0.2")
    message = "refusing champion#prod#2: not signed; tagger regpipe tests <tests@regpipe.invalid>"
    with pytest.raises(registry.UntrustedVersion, match=message):
        registry.fetch_model(repo, stage="prod", out_dir=tmp_path / "unsigned")
    assert message in refused(repo, "checkout", "--stage", "prod", "--model-only", "-o", "x")
    with pytest.raises(registry.UntrustedVersion, match=message):
        load_served_model(settings, repo)
    assert not (tmp_path / "unsigned").exists() and not (repo / "x").exists()
    # Without the trust root the same version is fetched: the refusal comes from the signatures.
    unchecked = registry.fetch_model(
        repo, stage="prod", out_dir=tmp_path / "off", allowed_signers=None
    )
    assert unchecked.version == "v0.0.2"

    # Signed, but by a key the allowed-signers file does not list.
    use_key(repo, mallory)
    cli(repo, "rollback", "--stage", "prod", "--sign")
    foreign = refused(repo, "checkout", "--stage", "prod", "--model-only", "-o", "x")
    assert (
        f"refusing champion#prod#3: signed by an unknown ED25519 key {mallory_fingerprint}"
        in foreign
    )
    assert "Traceback" not in foreign and len(foreign.strip().splitlines()) == 1
    assert "refusing champion#prod#3" in refused(repo, "checkout", "--stage", "prod")
    assert sh("git", "rev-parse", "--abbrev-ref", "HEAD", cwd=repo).stdout.strip() == "main"

    # The key holder moves prod back with a signature: served again.
    use_key(repo, alice)
    cli(repo, "rollback", "--stage", "prod", "--to", "v0.0.2", "--sign")
    assert registry.fetch_model(repo, stage="prod", out_dir=tmp_path / "v2").version == "v0.0.2"
    assert load_served_model(settings, repo).version == "v0.0.2"


def test_a_trust_root_never_falls_back_to_the_workspace_model(built_repo: Path, tmp_path: Path):
    signers = tmp_path / "allowed_signers"
    signers.write_text("")
    settings = load_settings(
        built_repo / "params.yaml", environ={"REGPIPE_SERVE_ALLOWED_SIGNERS": str(signers)}
    )
    with pytest.raises(registry.NoRegisteredVersion):
        load_served_model(settings, built_repo)
    no_trust_root = load_settings(built_repo / "params.yaml", environ={})
    assert load_served_model(no_trust_root, built_repo).source == "workspace"


def replace_file(path: Path, content: bytes) -> None:
    """Write new bytes without touching a file DVC may have linked to its cache."""
    path.unlink()
    path.write_bytes(content)


def test_checkout_refuses_to_lose_outputs_that_no_cache_holds(repo_copy: Path) -> None:
    repo = repo_copy
    cli(repo, "register")
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    recorded = {
        out["path"]: out["md5"]
        for stage in lock["stages"].values()
        for out in stage.get("outs", [])
    }
    edited = {
        "models/ridge.joblib": b"hand-tuned ridge",
        "data/prepared/current.csv": b"a,b\n1,2\n",
    }
    for path, content in edited.items():
        replace_file(repo / path, content)
    # A file that differs from dvc.lock but whose bytes are cached (an older output) is safe.
    cached_copy = repo / "models/ols.joblib"
    replace_file(repo / "models/lasso.joblib", cached_copy.read_bytes())

    message = refused(repo, "checkout", "v0.0.1")
    assert "data/prepared/current.csv, models/ridge.joblib;" in message
    assert "lasso" not in message and "--force" in message
    assert registry.unsaved_outputs(repo) == sorted(edited)
    for path, content in edited.items():
        assert (repo / path).read_bytes() == content, path

    cli(repo, "checkout", "v0.0.1", "--force")
    for path, md5 in recorded.items():
        assert hashlib.md5((repo / path).read_bytes()).hexdigest() == md5, path
    assert registry.unsaved_outputs(repo) == []
