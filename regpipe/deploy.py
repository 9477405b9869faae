"""Deploy a registry stage tag: that version's model in the service image, run until healthy.

``regpipe-deploy 'champion#prod#3'`` is what .github/workflows/deploy.yml runs when such a tag is
pushed, and what anyone can run locally:

1. the tag must be a GTO assignment (``<artifact>#<stage>#N``) that still names the stage's current
   version (a superseded tag deploys nothing);
2. that version's quality gate (metrics/evaluate.json at its commit) must have passed;
3. its model comes through the registry's verified fetch (SHA-256 equal to the model card's), the
   card and the training statistics from the same commit, into a folder readable by the
   container's user (mode 644 whatever the umask or the atomic writes left);
4. the image is built (``--build-arg BASE_IMAGE``), a container runs it with that folder mounted
   read-only, and the deploy succeeds once the image's HEALTHCHECK says healthy and ``/predict``
   answers a typical record (the training means).

The engine is podman or docker (``REGPIPE_CONTAINER_ENGINE``); podman runs with ``--runtime runc``
and explicit ulimits, as a host root without CAP_SYS_RESOURCE (a CI sandbox) needs.
"""

import argparse
import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from regpipe import registry
from regpipe.errors import UserError, run
from regpipe.pipeline_paths import pipeline_paths

IMAGE = "regpipe-serve"
CONTAINER_PORT = 8000
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy")
# Within what a root without CAP_SYS_RESOURCE may set, and plenty for one uvicorn worker.
PODMAN_ULIMITS = ("--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096")


@dataclass(frozen=True)
class Engine:
    """A container engine's command line: podman (runc, explicit ulimits) or docker."""

    program: str

    @property
    def is_podman(self) -> bool:
        return Path(self.program).name == "podman"

    def __call__(self, *args: str, timeout: float = 1800) -> str:
        """Run the engine; a failure is a UserError with the end of its output."""
        command = [self.program, *(["--runtime", "runc"] if self.is_podman else []), *args]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
            raise UserError(
                f"{self.program} {args[0]} failed (status {result.returncode}):\n{tail}"
            )
        return result.stdout.strip()


def find_engine() -> Engine:
    """``REGPIPE_CONTAINER_ENGINE``, else podman, else docker."""
    wanted = os.environ.get("REGPIPE_CONTAINER_ENGINE")
    for program in [wanted] if wanted else ["podman", "docker"]:
        if shutil.which(program):
            return Engine(program)
    raise UserError(
        f"no container engine: {wanted or 'podman or docker'} not found on PATH "
        "(Debian: apt-get install podman runc)"
    )


def build_image(
    engine: Engine, context: Path, image: str, base_image: str | None, *, no_cache: bool = False
) -> float:
    """Build the service image from ``context``'s Dockerfile; returns the seconds it took."""
    args = ["build", "-t", image, *(["--no-cache"] if no_cache else [])]
    if engine.is_podman:
        args += ["--format", "docker", *PODMAN_ULIMITS]  # OCI format would drop HEALTHCHECK
    if base_image:
        args += ["--build-arg", f"BASE_IMAGE={base_image}"]
    args += [arg for name in PROXY_VARIABLES if name in os.environ for arg in ("--build-arg", name)]
    started = time.monotonic()
    engine(*args, str(context))
    return time.monotonic() - started


def start_container(
    engine: Engine, image: str, model_dir: Path, *, name: str, port: int, env: dict[str, str]
) -> None:
    """Run ``image`` detached, ``model_dir`` on /model read-only, the service on 127.0.0.1:port."""
    args = ["run", "--detach", "--name", name, "--publish", f"127.0.0.1:{port}:{CONTAINER_PORT}"]
    args += ["--volume", f"{Path(model_dir).resolve()}:/model:ro"]
    args += [arg for key, value in env.items() for arg in ("--env", f"{key}={value}")]
    engine(*args, *(PODMAN_ULIMITS if engine.is_podman else ()), image)


def health_status(engine: Engine, name: str) -> str:
    """The container's health (starting, healthy, unhealthy), or its state if it stopped.

    podman runs HEALTHCHECK from systemd timers, absent in CI containers, so it is run here.
    """
    state = json.loads(engine("inspect", "--format", "{{json .State}}", name))
    if state.get("Status") != "running":
        return state.get("Status", "gone")
    if engine.is_podman:
        with_timeout = [engine.program, "--runtime", "runc", "healthcheck", "run", name]
        subprocess.run(with_timeout, capture_output=True, text=True, timeout=60)
        state = json.loads(engine("inspect", "--format", "{{json .State}}", name))
    health = state.get("Health") or state.get("Healthcheck") or {}
    return health.get("Status") or "starting"


def wait_healthy(engine: Engine, name: str, *, timeout: float = 120) -> float:
    """Seconds until the container's health check passed; a UserError with its logs otherwise."""
    started = time.monotonic()
    status = "starting"
    while time.monotonic() - started < timeout:
        status = health_status(engine, name)
        if status == "healthy":
            return time.monotonic() - started
        if status not in ("starting", "unhealthy", ""):
            break  # exited: no use waiting
        time.sleep(0.5)
    logs = subprocess.run(
        [engine.program, "logs", "--tail", "20", name], capture_output=True, text=True
    )
    raise UserError(f"container {name}: {status}, not healthy:\n{logs.stdout}{logs.stderr}")


def remove_container(engine: Engine, name: str) -> None:
    subprocess.run([engine.program, "rm", "--force", name], capture_output=True)


def post_json(url: str, payload: object, timeout: float = 10) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def get_json(url: str, timeout: float = 10) -> dict:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.load(response)


def typical_record(metadata: dict) -> dict:
    """A request record from /metadata: numbers at their training mean, categories' first level."""
    return {
        feature["name"]: feature["levels"][0]
        if feature["type"] == "category"
        else feature["training"]["mean"]
        for feature in metadata["features"]
    }


@dataclass(frozen=True)
class Release:
    """What a stage tag deploys, fetched and checked into ``folder``."""

    tag: str
    stage: str
    version: str
    rev: str
    folder: Path
    model_file: str


def resolve_tag(repo: Path, tag: str) -> tuple[str, registry.Version]:
    """The stage and the version a GTO assignment tag names; it must be the stage's latest."""
    from gto.tag import Action, parse_name

    try:
        parsed = parse_name(tag)
    except Exception:  # noqa: BLE001 (GTO raises several kinds; all mean "not a GTO tag")
        parsed = {}
    if parsed.get("name") != registry.ARTIFACT or parsed.get("action") != Action.ASSIGN:
        raise UserError(
            f"{tag!r}: not a stage assignment of {registry.ARTIFACT!r} "
            f"(expected {registry.ARTIFACT}#<stage>#<n>, e.g. {registry.ARTIFACT}#prod#1)"
        )
    stage = parsed["stage"]
    if not registry.git(repo, "tag", "--list", tag).strip():
        raise UserError(f"{tag}: no such tag in {repo} (fetched with `git fetch --tags`?)")
    commit = registry.git(repo, "rev-parse", f"refs/tags/{tag}^{{commit}}").strip()
    current = registry.find_version(repo, stage=stage)
    if current.rev != commit:
        raise UserError(
            f"{tag}: superseded: stage {stage!r} is now {registry.ARTIFACT}@{current.version} "
            f"({current.rev[:12]}); deploy its latest tag instead"
        )
    return stage, current


def fetch_release(repo: Path, tag: str, folder: Path) -> Release:
    """Check the tag's gate and fetch its verified model, card and statistics into ``folder``."""
    stage, version = resolve_tag(repo, tag)
    registry._refuse_failed_gate(version.evaluation, f"deploy {tag} ({version.version})")
    folder.mkdir(parents=True, exist_ok=True)
    ref = registry.fetch_model(repo, version=version.version, out_dir=folder)
    model_file = f"{registry.ARTIFACT}{ref.path.suffix}"
    ref.path.replace(folder / model_file)
    paths = pipeline_paths(repo, version.rev)
    (folder / "model_card.json").write_text(
        registry.git(repo, "show", f"{version.rev}:{paths.model_card}")
    )
    (folder / "train_stats.json").write_bytes(read_output(repo, paths.train_stats, version.rev))
    make_readable(folder)
    return Release(tag, stage, version.version, version.rev, folder, model_file)


def make_readable(folder: Path) -> None:
    """Mode 755/644 on the mounted folder: the container's user is not the files' owner, and
    atomic writes (mkstemp) leave 600 whatever the umask."""
    folder.chmod(0o755)
    for path in folder.iterdir():
        path.chmod(0o644)


def read_output(repo: Path, path: str, rev: str) -> bytes:
    """A DVC-tracked file's bytes at ``rev`` (local cache, else the remote)."""
    import dvc.api

    try:
        return dvc.api.read(path, repo=str(repo), rev=rev, mode="rb")
    except Exception as error:  # noqa: BLE001 (DVC's errors vary by remote; the cause is shown)
        raise UserError(f"{path} at {rev[:12]}: cannot read it with DVC: {error}") from None


def deploy(
    repo: Path,
    tag: str,
    *,
    folder: Path,
    engine: Engine,
    image: str = IMAGE,
    base_image: str | None = None,
    port: int = CONTAINER_PORT,
    keep_running: bool = False,
) -> dict:
    """The whole deploy; returns what a summary line needs (and the bench records)."""
    release = fetch_release(repo, tag, folder)
    build_seconds = build_image(engine, repo, image, base_image)
    name = f"regpipe-{release.stage}-{release.version}-{os.getpid()}".replace(".", "-")
    env = {"REGPIPE_SERVE_MODEL": f"/model/{release.model_file}"}
    start_container(engine, image, folder, name=name, port=port, env=env)
    try:
        healthy_seconds = wait_healthy(engine, name)
        url = f"http://127.0.0.1:{port}"
        status, body = post_json(f"{url}/predict", typical_record(get_json(f"{url}/metadata")))
        if status != 200 or body.get("model_version") != "workspace":
            raise UserError(f"container {name}: POST /predict answered {status}: {body}")
    finally:
        if not keep_running:
            remove_container(engine, name)
    return {
        "tag": tag,
        "version": release.version,
        "container": name,
        "build_seconds": round(build_seconds, 1),
        "healthy_seconds": round(healthy_seconds, 1),
        "prediction": body["predictions"][0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="regpipe-deploy", description=__doc__.split("\n\n")[0])
    parser.add_argument("tag", help="a stage assignment tag, e.g. 'champion#prod#3'")
    parser.add_argument("--repo", type=Path, default=Path("."))
    parser.add_argument("--out-dir", type=Path, default=Path("deploy"), help="the mounted folder")
    parser.add_argument("--image", default=IMAGE)
    parser.add_argument("--base-image", help="the Dockerfile's BASE_IMAGE (scripts/base-image.sh)")
    parser.add_argument("--port", type=int, default=CONTAINER_PORT)
    parser.add_argument("--keep-running", action="store_true", help="leave the container up")
    args = parser.parse_args()
    result = deploy(
        args.repo,
        args.tag,
        folder=args.out_dir,
        engine=find_engine(),
        image=args.image,
        base_image=args.base_image,
        port=args.port,
        keep_running=args.keep_running,
    )
    print(
        f"deployed {args.tag} ({registry.ARTIFACT}@{result['version']}): image {args.image} built "
        f"in {result['build_seconds']} s, container {result['container']} healthy in "
        f"{result['healthy_seconds']} s, /predict answered {result['prediction']:.2f}"
        + ("" if args.keep_running else " (container removed)")
    )


def cli() -> None:
    run(main)


if __name__ == "__main__":
    cli()
