"""Fault tests: the real dvc on a private copy of the built clone, one injected fault each.

Every test ends by proving nothing was lost: the outputs are byte for byte the ones recorded in
the built clone's dvc.lock, and every object in the DVC cache still hashes to its name.
"""

import hashlib
import os
import pickle
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from regpipe.errors import UserError, run
from regpipe.io import atomic_path, load_model
from tests.helpers import command_env, sh

pytestmark = pytest.mark.pipeline

RIDGE_TRAINING = ("stages/train.py", "train_ridge")


def recorded_outputs(repo: Path) -> dict[str, str]:
    """Every cached stage output in dvc.lock and the MD5 DVC recorded for it."""
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    return {
        out["path"]: out["md5"]
        for stage in lock["stages"].values()
        for out in stage.get("outs", [])
        if "md5" in out
    }


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def cache_object(repo: Path, digest: str) -> Path:
    return repo / ".dvc/cache/files/md5" / digest[:2] / digest[2:]


def assert_nothing_lost(repo: Path, built_repo: Path) -> None:
    """Outputs, dvc.lock and metrics equal the clean run's; the cache holds only sound objects."""
    expected = recorded_outputs(built_repo)
    assert (repo / "dvc.lock").read_bytes() == (built_repo / "dvc.lock").read_bytes()
    assert {path: md5(repo / path) for path in expected} == expected
    for metrics in sorted((built_repo / "metrics").rglob("*.*")):
        relative = metrics.relative_to(built_repo)
        assert (repo / relative).read_bytes() == metrics.read_bytes(), relative
    sh("make", "-s", "cache-verify", cwd=repo)
    assert "up to date" in sh("dvc", "status", cwd=repo).stdout


def start_repro(repo: Path, *args: str) -> subprocess.Popen:
    """`dvc repro ARGS` in its own process group, as a terminal would run it."""
    return subprocess.Popen(
        ["dvc", "repro", *args],
        cwd=repo,
        env=command_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def wait_for_stage_process(repo: Path, argv: tuple[str, ...], dvc: subprocess.Popen) -> int:
    """The pid of the stage command running in ``repo`` whose argv contains ``argv``."""
    wanted = [arg.encode() for arg in argv]
    while dvc.poll() is None:
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                cwd = os.readlink(f"/proc/{pid}/cwd")
            except OSError:
                continue
            if all(arg in cmdline for arg in wanted) and Path(cwd) == repo:
                return int(pid)
        time.sleep(0.05)
    raise AssertionError(f"the stage ended before it could be interrupted:\n{dvc.stdout.read()}")


def interrupt_mid_stage(repo: Path, sig: signal.Signals, attempts: int = 3) -> str:
    """Start rebuilding train_ridge, send ``sig`` to dvc's process group once the stage's python
    is running, and return dvc's output.

    On a busy machine the signal can arrive after the stage and dvc have finished (then dvc
    exits 0 and nothing was interrupted): that run tested nothing, so it is tried again; a
    signal that never stops the stage fails the test after ``attempts`` runs."""
    # A terminal's Ctrl-C reaches a dvc that neither ignores nor blocks SIGINT. Children inherit
    # both from this worker, which an earlier test in the same worker may have left set.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    blocked = signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    try:
        return _interrupt_mid_stage(repo, sig, attempts)
    finally:
        signal.signal(signal.SIGINT, previous)
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


def _interrupt_mid_stage(repo: Path, sig: signal.Signals, attempts: int) -> str:
    for _ in range(attempts):
        dvc = start_repro(repo, "--force", "--single-item", "train_ridge")
        wait_for_stage_process(repo, RIDGE_TRAINING, dvc)
        time.sleep(0.5)  # the stage's imports under way, the model not yet written
        os.killpg(dvc.pid, sig)
        output, _ = dvc.communicate(timeout=120)
        if dvc.returncode != 0:
            return output
    raise AssertionError(f"{sig.name} never stopped train_ridge in {attempts} runs:\n{output}")


def test_sigkill_mid_stage_then_repro_restores_a_clean_run(
    repo_copy: Path, built_repo: Path
) -> None:
    interrupt_mid_stage(repo_copy, signal.SIGKILL)
    # DVC removed the stage's outputs before running it; nothing stale may pass for valid.
    status = sh("dvc", "status", cwd=repo_copy).stdout
    assert "train_ridge" in status and "deleted" in status

    # The dead dvc left its rwlock behind; the next dvc notices the pid is gone, and rebuilds
    # train_ridge (or restores it from DVC's run cache: same command, same deps, same outputs).
    result = sh("dvc", "repro", cwd=repo_copy)
    assert "had been killed. Auto removed it from the lock file" in result.stderr
    assert_nothing_lost(repo_copy, built_repo)


def test_sigint_mid_stage_leaves_no_output_looking_valid(repo_copy: Path, built_repo: Path) -> None:
    interrupt_mid_stage(repo_copy, signal.SIGINT)
    model = repo_copy / "models/ridge.joblib"
    assert not model.exists() or md5(model) == recorded_outputs(built_repo)["models/ridge.joblib"]
    leftovers = [p.name for p in repo_copy.glob("**/.*.tmp") if ".dvc" not in p.parts]
    assert leftovers == []
    assert "train_ridge" in sh("dvc", "status", cwd=repo_copy).stdout

    sh("git", "checkout", "--", "metrics", cwd=repo_copy)
    sh("dvc", "checkout", cwd=repo_copy)
    assert_nothing_lost(repo_copy, built_repo)


def test_ctrl_c_during_a_write_keeps_the_previous_file(tmp_path: Path) -> None:
    path = tmp_path / "ridge.joblib"
    path.write_bytes(b"previous")
    with pytest.raises(KeyboardInterrupt), atomic_path(path) as tmp:
        tmp.write_bytes(b"half of a ")
        raise KeyboardInterrupt
    assert path.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["ridge.joblib"]


def test_ctrl_c_in_a_command_exits_130_with_a_message(capsys: pytest.CaptureFixture) -> None:
    def main() -> None:
        raise KeyboardInterrupt

    with pytest.raises(SystemExit) as exited:
        run(main)
    assert exited.value.code == 130
    assert "interrupted" in capsys.readouterr().err


def test_two_repros_at_once_one_waits_or_fails_on_the_lock(
    repo_copy: Path, built_repo: Path
) -> None:
    runs = [start_repro(repo_copy, "--force", "--single-item", "train_ols") for _ in range(2)]
    outputs = [run.communicate(timeout=300)[0] for run in runs]
    codes = [run.returncode for run in runs]
    assert 0 in codes, outputs
    for code, output in zip(codes, outputs, strict=True):
        if code != 0:
            assert "Unable to acquire lock" in output or "is being blocked by" in output, output
            assert "Traceback" not in output

    if codes != [0, 0]:
        sh("dvc", "repro", "--force", "--single-item", "train_ols", cwd=repo_copy)  # the retry
    assert_nothing_lost(repo_copy, built_repo)


def test_damaged_cache_objects_are_found_and_repaired(repo_copy: Path, built_repo: Path) -> None:
    sh("dvc", "push", cwd=repo_copy)
    outputs = recorded_outputs(repo_copy)
    corrupted = cache_object(repo_copy, outputs["data/prepared/current.csv"])
    deleted = cache_object(repo_copy, outputs["data/raw/data.parquet"])

    # Bit rot in a write-protected object: DVC trusts such objects without re-hashing them,
    # so `make cache-verify` (MD5 of every object against its name) is what finds it.
    mode = corrupted.stat().st_mode
    corrupted.chmod(0o644)
    corrupted.write_bytes(corrupted.read_bytes().replace(b"0", b"1", 1))
    corrupted.chmod(mode)
    found = sh("make", "-s", "cache-verify", cwd=repo_copy, check=False)
    assert found.returncode != 0
    assert f"damaged: {corrupted.relative_to(repo_copy)}" in found.stdout
    deleted.unlink()

    # Repair from the remote: drop the damaged object, then fetch what is missing.
    corrupted.unlink()
    assert "deleted" in sh("dvc", "status", "--cloud", cwd=repo_copy).stdout
    sh("dvc", "fetch", cwd=repo_copy)
    assert md5(corrupted) == outputs["data/prepared/current.csv"]
    assert md5(deleted) == outputs["data/raw/data.parquet"]

    # Without a remote, `dvc repro` rebuilds a missing object (outputs are byte-reproducible).
    deleted.unlink()
    assert "not in cache" in sh("dvc", "status", cwd=repo_copy).stdout
    sh("dvc", "repro", cwd=repo_copy)
    assert md5(deleted) == outputs["data/raw/data.parquet"]
    assert_nothing_lost(repo_copy, built_repo)


class WritesMarker:
    """A crafted pickle: unpickling it opens (creates) the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (open, (str(self.marker), "w"))


def craft_model(path: Path, marker: Path) -> None:
    path.write_bytes(pickle.dumps(WritesMarker(marker)))


def test_crafted_pickle_is_malicious_and_load_model_refuses_it(tmp_path: Path) -> None:
    model, marker = tmp_path / "model.joblib", tmp_path / "pwned"
    craft_model(model, marker)
    with pytest.raises(UserError, match="refusing to load: sha256"):
        load_model(model, sha256="0" * 64)
    with pytest.raises(UserError, match="refusing to load: md5"):
        load_model(model, md5="0" * 32)
    assert not marker.exists()

    import joblib  # the control: loaded without the hash check, the payload does run

    joblib.load(model)
    assert marker.exists()


def test_swapped_model_is_refused_by_the_evaluate_stage(repo_copy: Path, built_repo: Path) -> None:
    marker = repo_copy.parent / "pwned"
    craft_model(repo_copy / "models/ridge.joblib", marker)

    result = sh("dvc", "repro", "--single-item", "evaluate", cwd=repo_copy, check=False)
    assert result.returncode != 0
    assert "models/ridge.joblib: refusing to load: md5" in result.stderr
    assert "Traceback" not in result.stderr
    assert not marker.exists()

    sh("git", "checkout", "--", "metrics", cwd=repo_copy)
    sh("dvc", "checkout", "--force", cwd=repo_copy)
    assert_nothing_lost(repo_copy, built_repo)


@contextmanager
def unwritable(directory: Path, fault: str) -> Iterator[None]:
    """``directory`` as a full disk (a 16 KiB tmpfs, smaller than the stage's output) or as a
    read-only file system, for the duration of the block. Mounting needs root; without it the
    read-only case falls back to permissions, and the disk-full case is skipped."""
    options = "size=16k" if fault == "disk full" else "ro"
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(directory)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode == 0:
        try:
            yield
        finally:
            subprocess.run(["umount", str(directory)], check=True)
    elif fault == "read-only" and os.geteuid() != 0:
        directory.chmod(0o555)
        try:
            yield
        finally:
            directory.chmod(0o755)
    else:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.strip()}")


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (
            "disk full",
            "data/raw/data.parquet: write failed: Error writing bytes to file. "
            "Detail: [errno 28] No space left on device",
        ),
        ("read-only", "data/raw/data.parquet: cannot write here: "),
    ],
)
def test_unwritable_output_directory_gives_a_clear_error_and_checkout_restores(
    repo_copy: Path, built_repo: Path, fault: str, expected: str
) -> None:
    with unwritable(repo_copy / "data/raw", fault):
        result = sh(
            "dvc", "repro", "--force", "--single-item", "generate", cwd=repo_copy, check=False
        )
    assert result.returncode != 0
    assert expected in result.stderr
    assert "Traceback" not in result.stderr

    sh("dvc", "checkout", cwd=repo_copy)
    assert_nothing_lost(repo_copy, built_repo)
