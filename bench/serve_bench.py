"""Benchmark of the prediction service on loopback against a bare in-process ``model.predict``.

Measures start-up to the first healthy response, then latency p50/p99 and requests/s for
single-record and 100-record requests at concurrency 1 and 8. The server is the real one
(``python -m regpipe.serve serve --workspace``, the workspace champion) in a subprocess; the
client is stdlib ``http.client`` over keep-alive connections, one thread per connection, so the
client shares the machine's cores with the server (as it would on a 2-core box).

    python bench/serve_bench.py [--seconds 5]     # from the repository root, after `make repro`
"""

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

from regpipe.io import read_table
from regpipe.serve import load_served_model, load_settings

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(
    port: int, log_dir: Path, *, workspace: bool = True
) -> tuple[subprocess.Popen, dict]:
    """The server process; the seconds from exec to the first 200 on /health, and its CPU time.

    ``workspace=False`` asks the registry first (imports DVC and GTO, reads the tags).
    """
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "regpipe.serve", "serve", "--port", str(port)]
        + ["--log-path", str(log_dir / "predictions.jsonl")]
        + (["--workspace"] if workspace else []),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    while True:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            connection.request("GET", "/health")
            if connection.getresponse().status == 200:
                elapsed = time.perf_counter() - started
                return process, {"wall_s": elapsed, "server_cpu_s": cpu_seconds(process.pid)}
        except OSError:
            time.sleep(0.01)
        if process.poll() is not None:
            raise SystemExit(f"server exited with {process.returncode}")


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) the process has used: its cost per request, whatever the load."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load(port: int, body: bytes, *, concurrency: int, seconds: float, server_pid: int) -> dict:
    """Closed-loop load: each thread sends its next request when the previous one answered."""
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    deadline = time.perf_counter() + seconds
    headers = {"Content-Type": "application/json"}

    def worker(samples: list[float]) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port)
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            connection.request("POST", "/predict", body, headers)
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                raise SystemExit(f"status {response.status}")
            samples.append(time.perf_counter() - start)
        connection.close()

    threads = [threading.Thread(target=worker, args=(s,)) for s in latencies]
    cpu_before = cpu_seconds(server_pid)
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    server_cpu = cpu_seconds(server_pid) - cpu_before
    every = np.array([x for samples in latencies for x in samples]) * 1000
    return {
        "requests": len(every),
        "p50_ms": float(np.percentile(every, 50)),
        "p99_ms": float(np.percentile(every, 99)),
        "requests_per_s": len(every) / elapsed,
        "server_cpu_ms_per_request": server_cpu / len(every) * 1000,
    }


def in_process(records: list[dict], *, repeat: int) -> dict:
    """The same work without HTTP: bare model.predict, and validation + predict as the app does."""
    settings = load_settings(ROOT / "params.yaml", overrides={"use_registry": False})
    served = load_served_model(settings, ROOT)
    model = served.model
    frame = pd.DataFrame(records, columns=list(served.features))

    def timed(call) -> float:
        samples = []
        for _ in range(repeat):
            start = time.perf_counter()
            call()
            samples.append(time.perf_counter() - start)
        return statistics.median(samples) * 1000

    return {
        "bare_predict_ms": timed(lambda: model.predict(frame)),
        "validate_and_predict_ms": timed(
            lambda: served.predict(served.validator.validate(records, max_batch=None))
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()

    test = read_table(ROOT / "data/prepared/test.parquet")
    features = [c for c in test.columns if c != "target"]
    records = test[features].head(100).to_dict("records")
    bodies = {1: json.dumps(records[0]).encode(), 100: json.dumps(records).encode()}

    results = {"in_process": {n: in_process(records[:n], repeat=500) for n in bodies}}
    with tempfile.TemporaryDirectory() as log_dir:
        process, startup = start_server(free_port(), Path(log_dir), workspace=False)
        process.terminate()
        process.wait()
        results["startup_via_registry_lookup"] = startup
        port = free_port()
        process, startup = start_server(port, Path(log_dir))
        results["startup_workspace"] = startup
        try:
            load(port, bodies[1], concurrency=8, seconds=1.0, server_pid=process.pid)  # warm-up
            results["http"] = {
                f"{n} record(s), concurrency {c}": load(
                    port, body, concurrency=c, seconds=args.seconds, server_pid=process.pid
                )
                for n, body in bodies.items()
                for c in (1, 8)
            }
        finally:
            process.terminate()
            process.wait()
    results["load_average_after"] = os.getloadavg()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
