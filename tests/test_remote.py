"""Remote storage with the real dvc: push, then pull into a fresh clone, on the default local
remote and on an SSH remote served by a real OpenSSH server on 127.0.0.1."""

import getpass
import importlib.util
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from regpipe.io import sha256_file
from tests.helpers import free_port, sh
from tests.sshd import SSHServer, SSHUnavailableError, serve_sshd

pytestmark = [pytest.mark.pipeline, pytest.mark.service, pytest.mark.xdist_group("sshd")]


def outputs(repo: Path) -> list[str]:
    """Every DVC-cached output of the pipeline, from dvc.lock."""
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    return sorted(
        out["path"]
        for stage in lock["stages"].values()
        for out in stage.get("outs", [])
        if (repo / out["path"]).is_file() and not _in_git(repo, out["path"])
    )


def cached_md5s(repo: Path) -> set[str]:
    """The DVC cache objects (md5) of every output, from dvc.lock."""
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    paths = set(outputs(repo))
    return {
        out["md5"]
        for stage in lock["stages"].values()
        for out in stage.get("outs", [])
        if out["path"] in paths
    }


def _in_git(repo: Path, path: str) -> bool:
    return bool(sh("git", "ls-files", path, cwd=repo).stdout.strip())


def hashes(repo: Path, paths: list[str]) -> dict[str, str]:
    return {path: sha256_file(repo / path) for path in paths}


def fresh_clone(source: Path, destination: Path) -> Path:
    """A git clone: committed files only, no DVC cache, no outputs."""
    sh("git", "clone", "-q", str(source), str(destination), cwd=source.parent)
    return destination


def assert_restored_without_recomputation(clone: Path, expected: dict[str, str], remote: str):
    assert hashes(clone, list(expected)) == expected
    assert "up to date" in sh("dvc", "status", cwd=clone).stdout
    in_sync = sh("dvc", "status", "-c", "-r", remote, cwd=clone).stdout
    assert f"Cache and remote '{remote}' are in sync" in in_sync
    repro = sh("dvc", "repro", cwd=clone).stdout
    assert "Running stage" not in repro and "up to date" in repro


def test_push_then_pull_into_a_fresh_clone_restores_every_output(
    repo_copy: Path, tmp_path: Path
) -> None:
    # The default remote `local` is ../regpipe-dvc-storage beside the clone (here: in tmp_path).
    expected = hashes(repo_copy, outputs(repo_copy))
    assert len(expected) >= 8
    sh("dvc", "push", cwd=repo_copy)
    assert (tmp_path / "regpipe-dvc-storage/files/md5").is_dir()

    clone = fresh_clone(repo_copy, tmp_path / "fresh")
    sh("dvc", "pull", cwd=clone)
    assert_restored_without_recomputation(clone, expected, "local")

    # One object lost on the remote: dvc names it and the file it backs, pulls the rest and
    # leaves the workspace's other files alone.
    lost_md5 = next(
        out["md5"]
        for stage in yaml.safe_load((clone / "dvc.lock").read_text())["stages"].values()
        for out in stage.get("outs", [])
        if out["path"] == "data/prepared/test.parquet"
    )
    storage = tmp_path / "regpipe-dvc-storage/files/md5"
    (storage / lost_md5[:2] / lost_md5[2:]).unlink()
    partial = fresh_clone(repo_copy, tmp_path / "partial")
    result = sh("dvc", "pull", cwd=partial, check=False)
    assert result.returncode != 0
    assert f"Missing cache files:\nmd5: {lost_md5}" in result.stderr
    assert "Checkout failed for following targets:\ndata/prepared/test.parquet" in result.stderr
    assert not (partial / "data/prepared/test.parquet").exists()
    others = {
        path: digest for path, digest in expected.items() if path != "data/prepared/test.parquet"
    }
    assert hashes(partial, list(others)) == others
    assert sh("git", "status", "--porcelain", cwd=partial).stdout == ""


@pytest.fixture(scope="module")
def ssh_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SSHServer]:
    """A real sshd on 127.0.0.1 (tests/sshd.py); skipped, saying why, where it cannot run."""
    if importlib.util.find_spec("dvc_ssh") is None:
        pytest.skip("the dvc-ssh plugin is not installed (pip install dvc-ssh==4.3.0)")
    try:
        with serve_sshd(tmp_path_factory.mktemp("sshd")) as server:
            yield server
    except SSHUnavailableError as why:
        pytest.skip(str(why))


def dvc_ssh(server: SSHServer, *args: str, cwd: Path, check: bool = True):
    result = subprocess.run(
        ["dvc", *args], cwd=cwd, env=server.env(), capture_output=True, text=True
    )
    if check and result.returncode != 0:
        raise AssertionError(f"dvc {' '.join(args)} exited {result.returncode}\n{result.stderr}")
    return result


def add_ssh_remote(server: SSHServer, repo: Path, name: str, port: int, storage: Path) -> None:
    """An SSH remote as the README documents it: the URL in .dvc/config, the user's
    credentials in .dvc/config.local (never committed)."""
    sh("dvc", "remote", "add", name, f"ssh://127.0.0.1:{port}{storage}", cwd=repo)
    add_credentials(server, repo, name)


def add_credentials(server: SSHServer, repo: Path, name: str) -> None:
    sh("dvc", "remote", "modify", "--local", name, "user", getpass.getuser(), cwd=repo)
    sh("dvc", "remote", "modify", "--local", name, "keyfile", str(server.client_key), cwd=repo)


def test_ssh_remote_push_and_pull_into_a_fresh_clone(
    ssh_server: SSHServer, repo_copy: Path, tmp_path: Path
) -> None:
    storage = tmp_path / "ssh-storage"
    add_ssh_remote(ssh_server, repo_copy, "ssh", ssh_server.port, storage)
    sh("git", "add", ".dvc/config", cwd=repo_copy)
    sh("git", "commit", "-q", "-m", "ssh remote", cwd=repo_copy)
    expected = hashes(repo_copy, outputs(repo_copy))

    # Unreachable: a port with no server. DVC says so; the workspace keeps every output.
    add_ssh_remote(ssh_server, repo_copy, "dead", free_port(), storage)
    dead = dvc_ssh(ssh_server, "pull", "-r", "dead", cwd=repo_copy, check=False)
    assert dead.returncode != 0
    assert "ERROR: failed to connect to ssh" in dead.stderr
    assert "Connect call failed ('127.0.0.1'" in dead.stderr and "Traceback" not in dead.stderr
    assert hashes(repo_copy, list(expected)) == expected

    dvc_ssh(ssh_server, "push", "-r", "ssh", cwd=repo_copy)
    stored = {path.parent.name + path.name for path in storage.rglob("*") if path.is_file()}
    assert stored == cached_md5s(repo_copy)  # champion.joblib is lasso's file: one object

    clone = fresh_clone(repo_copy, tmp_path / "fresh")
    sh("dvc", "remote", "modify", "--local", "ssh", "user", getpass.getuser(), cwd=clone)
    sh(
        "dvc",
        "remote",
        "modify",
        "--local",
        "ssh",
        "keyfile",
        str(ssh_server.client_key),
        cwd=clone,
    )
    dvc_ssh(ssh_server, "pull", "-r", "ssh", cwd=clone)
    assert hashes(clone, list(expected)) == expected
    synced = dvc_ssh(ssh_server, "status", "-c", "-r", "ssh", cwd=clone).stdout
    assert "Cache and remote 'ssh' are in sync" in synced
    assert "Running stage" not in sh("dvc", "repro", cwd=clone).stdout
