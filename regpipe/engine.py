"""The engine (params.yaml ``engine``): where train's and evaluate's statistics passes run.

Every pass over the training split is a sum over row chunks of a function of one chunk
(:meth:`regpipe.search.Rows.reduce`): Gram matrices per CV fold, per bootstrap replicate,
absolute errors per fold. With ``engine.name: dask`` the chunks are the partitions of
``dask.dataframe.read_parquet`` over the prepared Parquet file, each reduced on a
dask.distributed worker to a few p x p matrices; only those travel back and are summed, in
partition order, by the stage. The rows of a partition keep their whole-table positions (the CV
fold labels and the bootstrap draws are functions of the position), so both engines give the
same numbers, to the rounding of a different order of summation.

The workers read the file themselves: its path must name the same file on every worker (a
LocalCluster on this machine, or a shared filesystem mounted at the same path on a cluster).
"""

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from regpipe.errors import UserError
from regpipe.params import Engine
from regpipe.progress import PassLog
from regpipe.search import ChunkFunction, Rows, center

CONNECT_TIMEOUT = "10s"
PRE_SPAWN_ENVIRON = "distributed.nanny.pre-spawn-environ"  # set in a worker before Python starts


@contextmanager
def open_engine(engine: Engine) -> Iterator[object | None]:
    """The dask.distributed Client the stage runs its passes on (None for the local engine).

    ``scheduler_address: null`` starts a LocalCluster for the stage's lifetime; an address
    connects to a running cluster, whose failure to answer is a params error.
    """
    if engine.name == "local":
        yield None
        return
    import dask
    from distributed import Client, LocalCluster

    # The cluster's own chatter (worker start and stop) is not the stage's output.
    logging.getLogger("distributed").setLevel(logging.ERROR)
    if engine.scheduler_address is None:
        with (
            # Dask's nanny starts each worker with MALLOC_TRIM_THRESHOLD_=65536, which also
            # turns off glibc's adaptive mmap threshold: every array over 128 KiB is then a
            # fresh mmap whose pages fault in again, and the bootstrap pass (thousands of
            # 2-8 MB draws per partition) spends as long in the kernel as in numpy: 2.3x its
            # CPU (bench/README.md, "the workers' malloc setting"). glibc's defaults keep the
            # freed memory for the next draw; a task holds a few hundred MB at most.
            dask.config.set({f"{PRE_SPAWN_ENVIRON}.MALLOC_TRIM_THRESHOLD_": None}),
            LocalCluster(
                n_workers=engine.n_workers, dashboard_address=None, host="127.0.0.1"
            ) as cluster,
            Client(cluster) as client,
        ):
            yield client
        return
    try:
        client = Client(engine.scheduler_address, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError, ValueError) as error:
        raise UserError(
            f"params.yaml: engine.scheduler_address={engine.scheduler_address!r}: cannot reach "
            f"the Dask scheduler ({error})"
        ) from None
    with client:
        yield client


@dataclass(frozen=True)
class OnFrame:
    """``function`` applied to one partition: its frame turned into (X, y), and its offset."""

    function: ChunkFunction
    to_arrays: Callable[[pd.DataFrame], tuple[np.ndarray, np.ndarray]]

    def __call__(self, frame: pd.DataFrame, offset: int) -> np.ndarray:
        return self.function(*self.to_arrays(frame), offset)

    def centre(self, frame: pd.DataFrame, n_rows: int) -> tuple[np.ndarray, float]:
        """:func:`center` of the partition's first ``n_rows`` rows (the local first chunk)."""
        X, y = self.to_arrays(frame.iloc[:n_rows])
        return center(X), float(center(y))


def _apply(on_frame: OnFrame, frame: pd.DataFrame, offset: int) -> np.ndarray:
    return on_frame(frame, offset)


def _centre(on_frame: OnFrame, frame: pd.DataFrame, n_rows: int) -> tuple[np.ndarray, float]:
    return on_frame.centre(frame, n_rows)


@dataclass(frozen=True)
class DaskRows(Rows):
    """A Parquet file's rows whose passes run on a Dask cluster, one task per partition.

    ``sizes`` stay the local engine's chunk sizes (the bootstrap's blocks), so the resamples
    are the same; ``read`` still reads the file here, for anything that is not a pass.
    """

    client: object = field(default=None, kw_only=True)
    path: str = field(default="", kw_only=True)
    to_arrays: Callable[[pd.DataFrame], tuple[np.ndarray, np.ndarray]] = field(
        default=None, kw_only=True
    )
    log: PassLog = field(default_factory=lambda: PassLog("partition"), compare=False, kw_only=True)

    def _frame(self) -> object:
        import dask
        import dask.dataframe as dd

        # One partition per row group (prepare writes bounded ones), text columns as pandas
        # reads them here, so the encoder sees the same types.
        with dask.config.set({"dataframe.convert-string": False}):
            return dd.read_parquet(str(Path(self.path).resolve()), split_row_groups=True)

    @cached_property
    def offsets(self) -> list[int]:
        """Each partition's (row group's) first row in the whole table, from the footer."""
        import pyarrow.parquet as pq

        metadata = pq.ParquetFile(self.path).metadata
        lengths = [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]
        if self._frame().npartitions != len(lengths):
            raise ValueError(f"{self.path}: Dask did not read one partition per row group")
        return [0, *np.cumsum(lengths)[:-1].tolist()]

    def _on_partitions(self, task: Callable, function: ChunkFunction | None, arguments) -> list:
        """``task(on_frame, partition, argument)`` per partition, as Dask delayed objects; the
        function (with what it holds: fold labels, models) goes once to each worker."""
        import dask

        parts = self._frame().to_delayed()
        on_frame = self.client.scatter(OnFrame(function, self.to_arrays), broadcast=True)
        return [
            dask.delayed(task)(on_frame, part, arg)
            for part, arg in zip(parts, arguments, strict=False)
        ]

    def reduce(self, function: ChunkFunction, what: str) -> np.ndarray:
        """One pass on the cluster: ``function`` of each partition, summed in partition order.

        The scheduler runs the partitions in an order of its own, so the progress counts them
        as they finish; each result waits here until those before it are summed."""
        from distributed import as_completed

        futures = self.client.compute(self._on_partitions(_apply, function, self.offsets))
        position = {future.key: i for i, future in enumerate(futures)}
        total, waiting, summed = None, {}, 0
        for future in self.log.track(as_completed(futures), len(futures), what):
            waiting[position[future.key]] = future.result()
            future.release()
            while summed in waiting:
                part = waiting.pop(summed)
                total = part if total is None else total + part
                summed += 1
        return total

    def first_centre(self) -> tuple[np.ndarray, float]:
        [task] = self._on_partitions(_centre, None, [self.sizes[0]])
        return self.client.compute(task).result()
