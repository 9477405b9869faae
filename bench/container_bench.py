"""The service image: base image, build, size, and container start to healthy.

Run from the repository root after `make repro` (the workspace champion is what it mounts):

    .venv/bin/python bench/container_bench.py [--runs 3] [--cold]

--cold also times what a machine's first run pays: the base image's root filesystem built by
mmdebstrap (its cached tarball removed first) and the image built without the layer cache.
"""

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from serve_bench import free_port  # bench/ is on sys.path when run as a script

from regpipe import deploy

ROOT = Path(__file__).resolve().parents[1]
IMAGE = "localhost/regpipe-serve:bench"


def base_image(engine: deploy.Engine, *, cold: bool) -> tuple[str, dict[str, float]]:
    """The base image's name and the seconds scripts/base-image.sh took in each situation."""
    script = [str(ROOT / "scripts/base-image.sh")]

    def timed() -> tuple[str, float]:
        started = time.monotonic()
        result = subprocess.run(script, capture_output=True, text=True, check=True)
        return result.stdout.strip().splitlines()[-1], time.monotonic() - started

    name, _ = timed()
    times = {}
    if cold:
        key = name.rsplit("-", 1)[1]
        (Path.home() / f".cache/regpipe/base-bookworm-{key}.tar").unlink()
        engine("rmi", name)
        name, times["built by mmdebstrap and imported"] = timed()
    engine("rmi", name)
    name, times["imported from the cached tarball"] = timed()
    name, times["already in the engine (a rerun)"] = timed()
    return name, times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cold", action="store_true")
    args = parser.parse_args()
    engine = deploy.find_engine()
    base, base_times = base_image(engine, cold=args.cold)
    for what, seconds in base_times.items():
        print(f"base image, {what}: {seconds:.1f} s")

    if args.cold:
        seconds = deploy.build_image(engine, ROOT, IMAGE, base, no_cache=True)
        print(f"image build without layer cache: {seconds:.1f} s")
    print(f"image build with layer cache: {deploy.build_image(engine, ROOT, IMAGE, base):.1f} s")
    (inspected,) = json.loads(engine("image", "inspect", IMAGE))
    print(f"image size: {inspected['Size'] / 1e6:.0f} MB (base {base})")

    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "model"
        folder.mkdir()
        for source in ["models/champion.skops", "metrics/model_card.json"]:
            shutil.copy(ROOT / source, folder)
        shutil.copy(ROOT / "data/prepared/train_stats.json", folder)
        deploy.make_readable(folder)
        for run in range(args.runs):
            name = f"regpipe-bench-{run}"
            started = time.monotonic()
            deploy.start_container(engine, IMAGE, folder, name=name, port=free_port(), env={})
            try:
                deploy.wait_healthy(engine, name)
                seconds = time.monotonic() - started
                print(f"container start to healthy, run {run + 1}: {seconds:.1f} s")
            finally:
                deploy.remove_container(engine, name)
    engine("rmi", IMAGE)


if __name__ == "__main__":
    sys.exit(main())
