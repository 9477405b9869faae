"""Benchmark of what issue 15 changed in serving: model load time (joblib vs skops) and /health
latency while clients post 1,000-record batches (the event-loop goal: /health within 100 ms).

The server is the real one (``python -m regpipe.serve serve --workspace``) started in ``--root``
(default: this checkout), so the same script measures an older checkout for a before/after.

    python bench/trust_bench.py [--root DIR] [--seconds 10] [--posters 4]
"""

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.serve_bench import free_port  # noqa: E402


def load_times(root: Path, repeat: int = 20) -> dict:
    """Median seconds to load the workspace champion: joblib (unpickle) and skops (allowlist)."""
    from regpipe.io import load_model, load_safe_model, read_json

    card = read_json(root / "metrics/model_card.json")
    result = {}
    for name, call in (
        ("joblib", lambda: load_model(root / "models/champion.joblib", sha256=card["sha256"])),
        (
            "skops",
            lambda: load_safe_model(root / "models/champion.skops", sha256=card["skops_sha256"]),
        ),
    ):
        call()
        samples = []
        for _ in range(repeat):
            started = time.perf_counter()
            call()
            samples.append(time.perf_counter() - started)
        result[f"{name}_ms"] = statistics.median(samples) * 1e3
    return result


def health_under_load(root: Path, *, seconds: float, posters: int) -> dict:
    """/health latency (p50, p99, max) while ``posters`` clients post 1,000-record batches."""
    import pandas as pd

    test = pd.read_parquet(root / "data/prepared/test.parquet").drop(columns="target")
    records = test.sample(n=1000, replace=True, random_state=0).to_dict("records")
    body = json.dumps(records).encode()
    port = free_port()
    with tempfile.TemporaryDirectory() as log_dir:
        server = subprocess.Popen(
            [sys.executable, "-m", "regpipe.serve", "serve", "--workspace", "--port", str(port)]
            + ["--log-path", str(Path(log_dir) / "predictions.jsonl")],
            cwd=root,
            env={**os.environ, "PYTHONPATH": str(root)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            while True:
                try:
                    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                    connection.request("GET", "/health")
                    if connection.getresponse().status == 200:
                        break
                except OSError:
                    time.sleep(0.1)
            stop = threading.Event()
            batches: list[float] = []

            def post() -> None:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                while not stop.is_set():
                    started = time.perf_counter()
                    connection.request(
                        "POST", "/predict", body, {"content-type": "application/json"}
                    )
                    response = connection.getresponse()
                    response.read()
                    assert response.status == 200, response.status
                    batches.append(time.perf_counter() - started)

            threads = [threading.Thread(target=post) for _ in range(posters)]
            for thread in threads:
                thread.start()
            time.sleep(1.0)
            health = []
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            deadline = time.perf_counter() + seconds
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                connection.request("GET", "/health")
                connection.getresponse().read()
                health.append(time.perf_counter() - started)
                time.sleep(0.01)
            stop.set()
            for thread in threads:
                thread.join()
        finally:
            server.terminate()
            server.wait()
    ms = np.array(health) * 1e3
    return {
        "health_requests": len(ms),
        "health_p50_ms": float(np.percentile(ms, 50)),
        "health_p99_ms": float(np.percentile(ms, 99)),
        "health_max_ms": float(ms.max()),
        "batches_per_s": len(batches) / (seconds + 1.0),
        "batch_p50_ms": float(np.percentile(np.array(batches) * 1e3, 50)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=ROOT)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--posters", type=int, default=4)
    parser.add_argument("--skip-load-times", action="store_true", help="an older checkout")
    args = parser.parse_args()
    result = {"root": str(args.root), "load_average_before": os.getloadavg()}
    if not args.skip_load_times:
        result["model_load"] = load_times(args.root)
    result["health_under_batches"] = health_under_load(
        args.root, seconds=args.seconds, posters=args.posters
    )
    result["load_average_after"] = os.getloadavg()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
