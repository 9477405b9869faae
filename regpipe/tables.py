"""Tables past memory: rows read a chunk at a time, and a shuffled split written out of core.

prepare works on any number of rows with memory bounded by a few chunks plus a few bytes per
row (row hashes, the split's permutation, one column): a ``Table`` gives the rows of a Parquet
file (or of a frame, the same code on one or more chunks) ``chunk_rows`` at a time, each chunk
indexed by its rows' positions in the whole table, and a whole column when an exact statistic
needs one (Parquet reads one column without the others). ``ShuffledSplit`` writes the rows
in the order of a permutation without holding them: rows go to bucket files by their
destination (one bucket per output chunk, a byte a row to say which), then each bucket is put
in order (its order kept on disk) and appended to the output.
"""

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from regpipe.io import existing_file, parquet_errors, read_parquet_chunks, write_table_chunks
from regpipe.progress import PassLog


class Table:
    """The rows of a Parquet file or a frame, ``chunk_rows`` at a time; ``table[name]`` is one
    whole column. ``columns`` and ``len`` come from the Parquet footer without reading rows."""

    def __init__(
        self,
        source: pd.DataFrame | str | Path,
        chunk_rows: int,
        columns: list[str] | None = None,
    ) -> None:
        self.source = source
        self.chunk_rows = chunk_rows
        if isinstance(source, pd.DataFrame):
            names, self._n_rows = list(source.columns), len(source)
        else:
            import pyarrow.parquet as pq

            with parquet_errors(existing_file(source)), pq.ParquetFile(source) as file:
                names, self._n_rows = file.schema_arrow.names, file.metadata.num_rows
        self.columns = pd.Index(names if columns is None else columns)

    def __len__(self) -> int:
        return self._n_rows

    @property
    def n_chunks(self) -> int:
        return max(-(-self._n_rows // self.chunk_rows), 1)

    def drop(self, columns: list[str]) -> "Table":
        """The same rows without ``columns``."""
        kept = [name for name in self.columns if name not in set(columns)]
        return Table(self.source, self.chunk_rows, kept)

    def __getitem__(self, name: str) -> pd.Series:
        if isinstance(self.source, pd.DataFrame):
            return self.source[name]
        import pyarrow as pa
        import pyarrow.parquet as pq

        kind = pq.read_schema(self.source).field(name).type
        numbers = pa.types.is_floating(kind) or pa.types.is_integer(kind)
        if self._n_rows and (numbers or pa.types.is_boolean(kind)):
            column = self._numbers(name)
            if column is not None:
                return column
        # Arrow's buffers released as pandas takes them
        column = pq.read_table(self.source, columns=[name])
        return column.to_pandas(split_blocks=True, self_destruct=True)[name]

    def _numbers(self, name: str) -> pd.Series | None:
        """A column of numbers or booleans read a chunk at a time into one array, with the
        dtype pandas gives the whole column: that array is the one copy in memory (the
        whole column read at once held about four, Arrow's and pandas', at its peak). None
        where that dtype is not NumPy's (a nullable Int64 or boolean ``to_parquet`` stored)."""
        values, start = None, 0
        for chunk in read_parquet_chunks(self.source, self.chunk_rows, [name]):
            if not isinstance(chunk[name].dtype, np.dtype):
                return None
            piece = chunk[name].to_numpy()
            if values is None:
                values = np.empty(self._n_rows, dtype=piece.dtype)
            values[start : start + len(piece)] = piece
            start += len(piece)
        return pd.Series(values, name=name, copy=False)

    def chunks(self, columns: list[str] | None = None) -> Iterator[pd.DataFrame]:
        """The rows, ``chunk_rows`` at a time (at least one chunk, perhaps empty), with the
        index a frame source has or, for Parquet, each row's position in the file."""
        columns = list(self.columns if columns is None else columns)
        if isinstance(self.source, pd.DataFrame):
            for start in range(0, max(self._n_rows, 1), self.chunk_rows):
                yield self.source.iloc[start : start + self.chunk_rows][columns]
            return
        start = 0
        for chunk in read_parquet_chunks(self.source, self.chunk_rows, columns):
            chunk.index = pd.RangeIndex(start, start + len(chunk))
            start += len(chunk)
            yield chunk
        if start == 0:
            import pyarrow.parquet as pq

            yield pq.read_schema(self.source).empty_table().select(columns).to_pandas()


class ShuffledSplit:
    """Rows written to ``parts`` in the order of each part's positions, out of core.

    ``parts`` maps a part's name to the source positions of its rows, in output order
    (``train`` -> sklearn's train indices, ...). Each part's output chunks are its buckets.
    The constructor keeps only each row's bucket number (one byte a row up to 256 buckets)
    and writes each bucket's order to a file; the positions may be dropped once it returns.
    Rows are then given in source order by ``add``; each lands in its bucket's file (Arrow
    IPC, in a temporary folder beside the outputs), where a bucket's rows stay in source
    order. ``column`` then gives one column of a part in output order, and ``write`` puts
    each bucket in order and appends it to the part's file. Nothing reaches the output paths
    until ``commit``; the temporary folder is removed on leaving, whatever happened.
    """

    def __init__(
        self, parts: dict[str, np.ndarray], n_rows: int, *, bucket_rows: int, folder: Path
    ) -> None:
        self.bucket_rows = bucket_rows
        self.parts = list(parts)
        self.sizes = {name: len(rows) for name, rows in parts.items()}
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = Path(tempfile.mkdtemp(dir=folder, prefix=".prepare-split-"))
        # every (part, bucket), numbered across the parts; each source row's number
        self.buckets = [
            (number, bucket)
            for number, name in enumerate(self.parts)
            for bucket in range(self.n_buckets(name))
        ]
        self.bucket_of = np.empty(n_rows, dtype=np.min_scalar_type(len(self.buckets)))
        for index, (number, bucket) in enumerate(self.buckets):
            rows = parts[self.parts[number]][bucket * bucket_rows : (bucket + 1) * bucket_rows]
            self.bucket_of[rows] = index
            # the bucket's rows arrive in source order: the place of each in the output
            np.save(self._places(number, bucket), np.argsort(rows).astype(rows.dtype))
        self.next_row = 0
        self.writers: dict[tuple[int, int], object] = {}
        self.schema = None
        self.done: dict[str, Path] = {}

    def __enter__(self) -> "ShuffledSplit":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def close(self) -> None:
        """The bucket files closed: every row has been added."""
        for writer in self.writers.values():
            writer.close()
        self.writers.clear()
        self.bucket_of = None  # no row is added any more: its byte a row goes

    def _bucket(self, part: int, bucket: int) -> Path:
        return self.folder / f"{self.parts[part]}-{bucket:06d}.arrow"

    def _places(self, part: int, bucket: int) -> Path:
        return self.folder / f"{self.parts[part]}-{bucket:06d}.places.npy"

    def add(self, chunk: pd.DataFrame, first: int) -> None:
        """Rows at source positions ``first``, ``first + 1``, ... (their order in the source:
        each call continues where the last one stopped)."""
        import pyarrow as pa

        if first != self.next_row:
            raise ValueError(f"rows added from {first}, expected {self.next_row}: source order")
        self.next_row += len(chunk)
        buckets = self.bucket_of[first : first + len(chunk)]
        order = np.argsort(buckets, kind="stable")  # source order kept inside each bucket
        buckets, frame = buckets[order], chunk.iloc[order].reset_index(drop=True)
        bounds = np.flatnonzero(np.diff(buckets)) + 1
        for start, stop in zip(np.r_[0, bounds], np.r_[bounds, len(buckets)], strict=True):
            if start == stop:
                continue
            piece = frame.iloc[start:stop]
            if self.schema is None:  # a text column empty in this piece is still text
                schema = pa.Schema.from_pandas(piece, preserve_index=False)
                self.schema = pa.schema(
                    [
                        field.with_type(pa.string()) if pa.types.is_null(field.type) else field
                        for field in schema
                    ]
                )
            batch = pa.RecordBatch.from_pandas(piece, schema=self.schema, preserve_index=False)
            key = self.buckets[int(buckets[start])]
            if key not in self.writers:
                self.writers[key] = pa.ipc.new_file(self._bucket(*key), self.schema)
            self.writers[key].write_batch(batch)

    def _buckets(self, part: str, *, last: bool = False) -> Iterator[tuple[object, np.ndarray]]:
        """Each bucket of ``part`` as an Arrow table (memory-mapped) and the order of its rows;
        with ``last``, each bucket file is deleted once used."""
        import pyarrow as pa

        self.close()
        number = self.parts.index(part)
        for bucket in range(self.n_buckets(part)):
            path, places = self._bucket(number, bucket), self._places(number, bucket)
            with pa.memory_map(str(path)) as source:
                table = pa.ipc.open_file(source).read_all()
            order = np.empty(table.num_rows, dtype=np.int64)
            order[np.load(places)] = np.arange(table.num_rows)
            yield table, order
            if last:  # written out: its disk space back before the next bucket's
                del table
                path.unlink()
                places.unlink()

    def column(self, part: str, name: str) -> pd.Series:
        """One column of ``part``, every row in output order: the column is the one copy
        in memory (each bucket's values put in place, no list of pieces to join)."""
        values, start = None, 0
        for table, order in self._buckets(part):
            bucket = _to_numpy(table.column(name))
            if values is None:
                values = np.empty(self.sizes[part], dtype=bucket.dtype)
            np.take(bucket, order, out=values[start : start + len(order)])
            start += len(order)
        if values is None:
            dtype = self.schema.field(name).type if self.schema is not None else None
            return pd.Series([], dtype=object if dtype is None else _pandas_dtype(dtype))
        return pd.Series(values, name=name, copy=False)

    def n_buckets(self, part: str) -> int:
        return -(-self.sizes[part] // self.bucket_rows)

    def write(
        self,
        part: str,
        path: Path,
        transform: Callable[[pd.DataFrame], pd.DataFrame],
        log: PassLog | None = None,
    ) -> None:
        """``part``'s rows in output order, each bucket through ``transform``, to a temporary
        file of its own: ``commit`` moves it to ``path``. The pass is counted in ``log``."""
        target = self.folder / f"{part}.out{Path(path).suffix}"
        buckets = (log or PassLog()).track(
            self._buckets(part, last=True), self.n_buckets(part), f"writing {part}"
        )

        def frames() -> Iterator[pd.DataFrame]:
            start = 0
            for table, order in buckets:
                frame = table.take(order)
                frame = pd.DataFrame(
                    {field: _to_numpy(frame.column(field)) for field in frame.column_names},
                    index=pd.RangeIndex(start, start + len(order)),
                )
                start += len(order)
                yield transform(frame).reset_index(drop=True)

        write_table_chunks(frames(), target)
        self.done[part] = (target, Path(path))

    def commit(self) -> None:
        """Every written part moved onto its output path (renames on the same disk)."""
        for target, path in self.done.values():
            path.parent.mkdir(parents=True, exist_ok=True)
            os.replace(target, path)


def _to_numpy(column: object) -> np.ndarray:
    """An Arrow column as pandas had it before: float64, or text as objects with None."""
    import pyarrow as pa

    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return column.to_numpy(zero_copy_only=False).astype(object)
    if pa.types.is_null(column.type):
        return np.full(len(column), None, dtype=object)
    return column.to_numpy()


def _pandas_dtype(arrow_type: object) -> object:
    import pyarrow as pa

    return np.float64 if pa.types.is_floating(arrow_type) else object
