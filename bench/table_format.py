"""CSV vs Parquet: write and read time of the prepared tables at 1M rows (regpipe.io functions).

python bench/table_format.py [n_samples]
"""

import sys
import tempfile
import time
from pathlib import Path

from regpipe.data import synthetic_chunks, synthetic_truth
from regpipe.io import read_table, write_table


def best_of(repeats: int, action) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    n_samples = int(float(sys.argv[1])) if len(sys.argv) > 1 else 1_000_000
    truth = synthetic_truth(
        n_features=10, n_informative=4, n_categorical=1, n_levels=3, random_state=0
    )
    (frame,) = synthetic_chunks(
        truth,
        n_samples=n_samples,
        noise=1.0,
        correlation=0.0,
        chunk_size=n_samples,
        target="target",
        random_state=0,
    )
    print(f"{n_samples} rows x {frame.shape[1]} columns (10 float, 1 categorical, target)")
    print("| format | write s | read s | size MB |")
    print("| --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as folder:
        for suffix in (".csv", ".parquet"):
            path = Path(folder) / f"table{suffix}"
            write = best_of(1, lambda path=path: write_table(frame, path))
            read = best_of(3, lambda path=path: read_table(path))
            size = path.stat().st_size / 1e6
            print(f"| {suffix[1:]} | {write:.2f} | {read:.2f} | {size:.0f} |")


if __name__ == "__main__":
    main()
