"""A throwaway OpenSSH server on 127.0.0.1 for the SSH remote test and benchmark.

It runs the system's sshd in the foreground on a free port, with its own host key and one
authorized client key generated in a temporary folder, and a HOME whose known_hosts holds that
host key, so DVC's SSH client verifies the server as it would in real use.
"""

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.helpers import command_env, free_port


class SSHUnavailableError(Exception):
    """sshd is missing or would not start here; the message says why."""


@dataclass(frozen=True)
class SSHServer:
    port: int
    client_key: Path
    home: Path  # a HOME whose .ssh/known_hosts holds the server's host key

    def env(self) -> dict[str, str]:
        """The environment for dvc commands that talk to this server."""
        return {**command_env(), "HOME": str(self.home)}


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)


def _wait_for_port(server: subprocess.Popen, port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                output = server.communicate()[0].decode(errors="replace").strip()
                why = f"sshd could not start on 127.0.0.1:{port}: {output}"
                raise SSHUnavailableError(why) from None
            time.sleep(0.2)


@contextmanager
def serve_sshd(root: Path) -> Iterator[SSHServer]:
    """sshd on a free port of 127.0.0.1 for as long as the block runs; keys live in ``root``."""
    sshd = shutil.which("sshd") or "/usr/sbin/sshd"
    if not os.access(sshd, os.X_OK) or not shutil.which("ssh-keygen"):
        raise SSHUnavailableError(
            "sshd not installed (Debian: apt-get install openssh-server; .ci/run does it)"
        )
    _keygen(root / "host_key")
    _keygen(root / "client_key")
    shutil.copy(root / "client_key.pub", root / "authorized_keys")
    port = free_port()
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
    _wait_for_port(server, port, timeout=20)
    home = root / "home"
    (home / ".ssh").mkdir(parents=True)
    key_type, key = (root / "host_key.pub").read_text().split()[:2]
    (home / ".ssh/known_hosts").write_text(f"[127.0.0.1]:{port} {key_type} {key}\n")
    try:
        yield SSHServer(port=port, client_key=root / "client_key", home=home)
    finally:
        server.terminate()
        server.wait(timeout=10)
