"""Remote storage with the real dvc: push, then pull into a fresh clone, on the default local
remote and on an SSH remote served by a real OpenSSH server on 127.0.0.1."""

import getpass
import importlib.util
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from regpipe.io import sha256_file
from tests.conftest import command_env, sh


def outputs(repo: Path) -> list[str]:
    """Every DVC-cached output of the pipeline, from dvc.lock."""
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    return sorted(
        out["path"]
        for stage in lock["stages"].values()
        for out in stage.get("outs", [])
        if (repo / out["path"]).is_file() and not _in_git(repo, out["path"])
    )


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
        if out["path"] == "data/prepared/test.csv"
    )
    storage = tmp_path / "regpipe-dvc-storage/files/md5"
    (storage / lost_md5[:2] / lost_md5[2:]).unlink()
    partial = fresh_clone(repo_copy, tmp_path / "partial")
    result = sh("dvc", "pull", cwd=partial, check=False)
    assert result.returncode != 0
    assert f"Missing cache files:\nmd5: {lost_md5}" in result.stderr
    assert "Checkout failed for following targets:\ndata/prepared/test.csv" in result.stderr
    assert not (partial / "data/prepared/test.csv").exists()
    others = {path: digest for path, digest in expected.items() if path != "data/prepared/test.csv"}
    assert hashes(partial, list(others)) == others
    assert sh("git", "status", "--porcelain", cwd=partial).stdout == ""


@dataclass(frozen=True)
class SSHServer:
    port: int
    client_key: Path
    home: Path  # a HOME whose .ssh/known_hosts holds the server's host key

    def env(self) -> dict[str, str]:
        return {**command_env(), "HOME": str(self.home)}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)


@pytest.fixture(scope="module")
def ssh_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SSHServer]:
    """OpenSSH's sshd on a free port of 127.0.0.1, with its own host key and one authorized
    client key, all in a temporary folder; skipped where sshd is missing or cannot start."""
    sshd = shutil.which("sshd") or "/usr/sbin/sshd"
    if not os.access(sshd, os.X_OK) or not shutil.which("ssh-keygen"):
        pytest.skip("sshd not installed (Debian: apt-get install openssh-server; .ci/run does it)")
    if importlib.util.find_spec("dvc_ssh") is None:
        pytest.skip("the dvc-ssh plugin is not installed (pip install dvc-ssh==4.3.0)")
    root = tmp_path_factory.mktemp("sshd")
    _keygen(root / "host_key")
    _keygen(root / "client_key")
    shutil.copy(root / "client_key.pub", root / "authorized_keys")
    port = _free_port()
    config = root / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {root / 'host_key'}\n"
        f"PidFile {root / 'sshd.pid'}\nAuthorizedKeysFile {root / 'authorized_keys'}\n"
        "PubkeyAuthentication yes\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "PermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\n"
        "Subsystem sftp internal-sftp\n"
    )
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege-separation directory
    server = subprocess.Popen(
        [sshd, "-D", "-e", "-f", str(config)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                output = server.communicate()[0].decode(errors="replace")
                pytest.skip(f"sshd could not start on 127.0.0.1:{port}: {output.strip()}")
            time.sleep(0.2)
    home = root / "home"
    (home / ".ssh").mkdir(parents=True)
    host_key = (root / "host_key.pub").read_text().split()
    (home / ".ssh/known_hosts").write_text(f"[127.0.0.1]:{port} {host_key[0]} {host_key[1]}\n")
    try:
        yield SSHServer(port=port, client_key=root / "client_key", home=home)
    finally:
        server.terminate()
        server.wait(timeout=10)


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
    add_ssh_remote(ssh_server, repo_copy, "dead", _free_port(), storage)
    dead = dvc_ssh(ssh_server, "pull", "-r", "dead", cwd=repo_copy, check=False)
    assert dead.returncode != 0
    assert "ERROR" in dead.stderr and "Traceback" not in dead.stderr
    assert hashes(repo_copy, list(expected)) == expected

    dvc_ssh(ssh_server, "push", "-r", "ssh", cwd=repo_copy)
    stored = sorted(path.name for path in storage.rglob("*") if path.is_file())
    assert len(stored) == len(expected)

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
