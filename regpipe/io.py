"""Reading and writing the files that move between stages.

Every write goes to a temporary file in the destination folder and is renamed into place, so an
interrupted stage never leaves a half-written file that looks valid; the file gets the permissions
any other new file would (the umask), not the temporary file's 0600.
"""

import hashlib
import io
import json
import math
import numbers
import os
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd

from regpipe.errors import UserError
from regpipe.pipeline_paths import DVC_LOCK

SIGNIFICANT_DIGITS = 10
# Parquet rows read at a time by drift and current: 0.5 MiB per numeric column; more barely
# lowers CPU and raises memory (train reads regpipe.search.CHUNK_ROWS, sized for its blocks)
CHUNK_ROWS = 1 << 16


def _read_umask() -> int:
    """The process's umask, read once at import: reading it means setting it, which must not
    race with another thread (the service's) creating a file."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


UMASK = _read_umask()


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``, renamed onto ``path`` only if the block succeeds."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as error:
        raise UserError(f"{path}: cannot write here: {error.strerror}") from None
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~UMASK)  # mkstemp's 0600 would hide the file from other users
        os.replace(tmp, path)
    except OSError as error:
        raise UserError(f"{path}: write failed: {error.strerror}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@contextmanager
def parquet_errors(path: str | Path) -> Iterator[None]:
    """pyarrow's errors on a damaged or foreign file (no footer: ArrowInvalid; a bad page:
    OSError) as one line naming the file, not a traceback."""
    import pyarrow as pa

    try:
        yield
    except (pa.ArrowException, OSError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(f"{path}: cannot read it as Parquet: {reason}") from None


def existing_file(path: str | Path) -> Path:
    """``path``, refused when it is not a file: a folder (a partitioned dataset) is named as
    one, not as missing."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{path}: a folder, not a file")
    if not path.is_file():
        raise UserError(f"{path}: file not found")
    return path


def _read_parquet(path: Path) -> pd.DataFrame:
    """pandas.read_parquet's frame, converted column by column while the Arrow buffers are
    released (``self_destruct``), so a large table peaks near 2x its size in memory, not 3x."""
    import pyarrow.parquet as pq

    with parquet_errors(path):
        return pq.read_table(path).to_pandas(split_blocks=True, self_destruct=True)


def read_table(path: str | Path) -> pd.DataFrame:
    """A CSV or Parquet file as a DataFrame, chosen by the file's suffix."""
    path = Path(path)
    readers: dict[str, Callable[[Path], pd.DataFrame]] = {
        ".csv": pd.read_csv,
        ".parquet": _read_parquet,
    }
    if path.suffix not in readers:
        raise UserError(f"{path}: unsupported table format {path.suffix!r}; use .csv or .parquet")
    existing_file(path)
    try:
        return readers[path.suffix](path)
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise UserError(f"{path}: cannot read table: {error}") from None


def parquet_num_rows(path: str | Path) -> int:
    """The row count in a Parquet file's footer: nothing else is read."""
    import pyarrow.parquet as pq

    with parquet_errors(existing_file(path)):
        return pq.ParquetFile(path).metadata.num_rows


def read_parquet_chunks(
    path: str | Path, rows: int, columns: list[str] | None = None
) -> Iterator[pd.DataFrame]:
    """A Parquet file as DataFrames of ``rows`` rows each (the last shorter), read one batch at
    a time across its row groups: memory holds one chunk, whatever the file's size."""
    import pyarrow.parquet as pq

    with parquet_errors(existing_file(path)):
        casts = whole_file_casts(path, columns)
        # pre_buffer (pyarrow's default) keeps every column chunk read so far until the file
        # is closed: memory would grow with the file (measured: 2.7 GiB after 3e7 rows)
        with pq.ParquetFile(path, pre_buffer=False) as file:
            for batch in file.iter_batches(batch_size=rows, columns=columns):
                yield as_whole_file(batch.to_pandas(), casts)


def whole_file_casts(path: str | Path, columns: list[str] | None = None) -> dict[str, type]:
    """The dtype pandas gives the whole file to each integer or boolean column (of ``columns``)
    with a null anywhere in it: float or object, which a chunk without a null would not be."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    metadata = pq.ParquetFile(path).metadata
    leaves = [metadata.schema.column(index).path for index in range(metadata.num_columns)]
    casts = {}
    for field in metadata.schema.to_arrow_schema():
        integer = pa.types.is_integer(field.type)
        if columns is not None and field.name not in columns:
            continue
        if not (integer or pa.types.is_boolean(field.type)):
            continue
        if _has_nulls(path, metadata, leaves.index(field.name), field.name):
            casts[field.name] = float if integer else object
    return casts


def as_whole_file(frame: pd.DataFrame, casts: dict[str, type]) -> pd.DataFrame:
    """``frame`` (some rows of a Parquet file) with the dtypes :func:`whole_file_casts` gives.
    A pandas nullable dtype (Int64, boolean: stored by ``to_parquet``) is the whole file's
    already and stays."""
    for column, dtype in casts.items():
        kept = frame[column].dtype if column in frame.columns else None
        if isinstance(kept, np.dtype) and kept.kind in "iub":
            frame[column] = frame[column].astype(dtype)
    return frame


def _has_nulls(path: str | Path, metadata, index: int, column: str) -> bool:
    """From the row groups' statistics, or, where a writer left them out, the column."""
    import pyarrow.parquet as pq

    groups = map(metadata.row_group, range(metadata.num_row_groups))
    stats = [group.column(index).statistics for group in groups]
    if all(item is not None and item.has_null_count for item in stats):
        return any(item.null_count > 0 for item in stats)
    with pq.ParquetFile(path, pre_buffer=False) as file:
        batches = file.iter_batches(CHUNK_ROWS, columns=[column])
        return any(batch.column(0).null_count > 0 for batch in batches)


def frame_columns(path: str | Path) -> pd.Index:
    """The columns pandas gives a Parquet file: its schema's, less a stored index
    (``__index_level_0__`` from ``to_parquet`` of a frame with an index), which pandas makes
    the frame's index."""
    import pyarrow.parquet as pq

    schema = pq.read_schema(path)
    stored = (schema.pandas_metadata or {}).get("index_columns", [])
    return pd.Index([name for name in schema.names if name not in stored])


class ParquetColumns:
    """A Parquet table whose columns are read one at a time, when asked for: ``table[name]``
    is that column as pandas reads it, ``len(table)`` and ``table.columns`` come from the
    footer. For work that goes column by column (the drift tests), memory holds the columns in
    use, not the table."""

    def __init__(self, path: str | Path) -> None:
        import pyarrow.parquet as pq

        self.path = existing_file(path)
        with parquet_errors(path):
            self.columns = frame_columns(self.path)
            self._metadata = pq.ParquetFile(self.path).metadata  # row count, row groups

    def __len__(self) -> int:
        return self._metadata.num_rows

    def __getitem__(self, column: str) -> pd.Series:
        import pyarrow.parquet as pq

        with parquet_errors(self.path):
            return pq.read_table(self.path, columns=[column]).to_pandas()[column]


def describe_table(path: str | Path) -> str:
    """``path`` for messages, with the user's file it was read from when it records one."""
    path = Path(path)
    if path.suffix != ".parquet" or not path.is_file():
        return str(path)
    import pyarrow.parquet as pq

    try:
        origin = (pq.read_schema(path).metadata or {}).get(ORIGIN_KEY)
    except (OSError, ValueError):  # not Parquet after all: pyarrow's ArrowInvalid, ArrowIOError
        return str(path)
    return f"{origin.decode()} (as {path})" if origin else str(path)


def write_table(frame: pd.DataFrame, path: str | Path) -> None:
    path = Path(path)
    with atomic_path(path) as tmp:
        if path.suffix == ".parquet":
            frame.to_parquet(tmp, index=False)
        else:
            frame.to_csv(tmp, index=False)


ORIGIN_KEY = b"regpipe.origin"


def write_table_chunks(
    chunks: Iterable[pd.DataFrame], path: str | Path, *, origin: str | None = None
) -> int:
    """Write chunks of rows as one table without holding them all; returns the number of rows.

    Parquet gets one row group per chunk, and ``origin`` (the user's file the rows came from)
    in its metadata, so later errors can name that file; CSV gets the header once. Every chunk
    must have the columns and types of the first.
    """
    path = Path(path)
    n_rows = 0
    with atomic_path(path) as tmp:
        if path.suffix == ".parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            writer = None
            for chunk in chunks:
                table = pa.Table.from_pandas(
                    chunk, schema=writer.schema if writer else None, preserve_index=False
                )
                if writer is None and origin is not None:
                    metadata = {**(table.schema.metadata or {}), ORIGIN_KEY: origin.encode()}
                    table = table.replace_schema_metadata(metadata)
                writer = writer or pq.ParquetWriter(tmp, table.schema)
                writer.write_table(table)
                n_rows += len(chunk)
            if writer is not None:
                writer.close()
        else:
            for chunk in chunks:
                chunk.to_csv(tmp, mode="a", header=n_rows == 0, index=False)
                n_rows += len(chunk)
    return n_rows


def _rounded(value: object) -> object:
    """Floats cut to SIGNIFICANT_DIGITS, so last-bit noise never changes a metrics file."""
    if isinstance(value, bool):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return float(f"{value:.{SIGNIFICANT_DIGITS}g}") + 0.0  # + 0.0 turns -0.0 into 0.0
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_rounded(item) for item in value]
    return value


def write_json(data: dict, path: str | Path) -> None:
    """Write ``data`` as indented JSON with rounded floats and non-finite numbers as null."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(_rounded(data), indent=2, allow_nan=False) + "\n")


def read_json(path: str | Path) -> dict:
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None
    except json.JSONDecodeError as error:
        raise UserError(f"{path}: not valid JSON: {error}") from None


def save_model(model: object, path: str | Path) -> None:
    import joblib

    with atomic_path(path) as tmp:
        joblib.dump(model, tmp)


def sha256_file(path: str | Path) -> str:
    return file_digest(path, "sha256")


def file_digest(path: str | Path, algorithm: str) -> str:
    """The hex digest of a file's bytes with ``algorithm`` (a hashlib name: sha256, md5)."""
    with open(path, "rb") as stream:
        return hashlib.file_digest(stream, algorithm).hexdigest()


def locked_md5(path: str | Path, lock_file: str | Path = DVC_LOCK) -> str:
    """The MD5 that DVC recorded in ``lock_file`` for the stage output ``path``.

    DVC rewrites dvc.lock as each stage finishes, so during ``dvc repro`` this is the hash of
    the file the upstream stage just wrote; anything else in its place is a swapped file.
    """
    import yaml

    try:
        stages = yaml.safe_load(Path(lock_file).read_text())["stages"]
    except (OSError, yaml.YAMLError, KeyError, TypeError) as error:
        raise UserError(f"{lock_file}: cannot read the recorded output hashes: {error}") from None
    for stage in stages.values():
        for out in stage.get("outs", []):
            if Path(out["path"]) == Path(path) and "md5" in out:
                return out["md5"]
    raise UserError(f"{path}: no hash recorded in {lock_file}; build it with `dvc repro`")


def load_model(path: str | Path, sha256: str | None = None, *, md5: str | None = None) -> object:
    """Unpickle a model file, after checking its SHA-256 (or DVC's MD5) when one is given.

    Unpickling runs code, so a model from anywhere but this workspace's own pipeline run must
    come with the hash recorded in git (its model card, or dvc.lock) and is refused before
    loading if the file differs.
    """
    import joblib

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: model file not found (run `dvc repro` or `dvc checkout`)")
    for algorithm, expected in (("sha256", sha256), ("md5", md5)):
        if expected is not None and (actual := file_digest(path, algorithm)) != expected:
            raise UserError(
                f"{path}: refusing to load: {algorithm} {actual} differs from the recorded "
                f"{expected}"
            )
    return joblib.load(path)


# skops stamps each zip entry with the time and names arrays and shared objects after id(): the
# same model would give new bytes on every run, and dvc.lock would never be reproduced.
_FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def _canonical_skops(data: bytes) -> bytes:
    """skops bytes with ids renumbered in order of appearance and a fixed zip time."""
    import zipfile

    with zipfile.ZipFile(io.BytesIO(data)) as source:
        schema = json.loads(source.read("schema.json"))
        stored = set(source.namelist())
        ids: dict[int, int] = {}
        files: dict[str, str] = {}

        def renumber(node: object) -> None:
            if isinstance(node, list):
                for item in node:
                    renumber(item)
            elif isinstance(node, dict):
                for key, value in node.items():
                    if key == "__id__" and isinstance(value, int):
                        node[key] = ids.setdefault(value, len(ids))
                    elif key == "file" and isinstance(value, str) and value in stored:
                        node[key] = files.setdefault(value, f"{len(files)}.npy")
                    else:
                        renumber(value)

        renumber(schema)
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as target:
            for old, new in files.items():
                target.writestr(zipfile.ZipInfo(new, _FIXED_ZIP_TIME), source.read(old))
            target.writestr(
                zipfile.ZipInfo("schema.json", _FIXED_ZIP_TIME), json.dumps(schema, indent=2)
            )
    return out.getvalue()


def _skops_io() -> ModuleType:
    """skops.io, whose default trust is this project's allowlist rather than all of scikit-learn.

    At import skops lists every scikit-learn estimator with ``sklearn.utils.all_estimators()``,
    which imports every scikit-learn module (and ``dask.array``, dask being installed): about
    1.5 s of CPU in each process that saves or loads a model. Loading here trusts only
    :data:`regpipe.models.SAFE_MODEL_CLASSES`, so those are what the import is given instead:
    the walk is skipped, and a file naming any other estimator is refused even when nested.
    """
    if "skops.io" not in sys.modules:
        import sklearn.utils

        from regpipe.models import SAFE_MODEL_CLASSES

        walk = sklearn.utils.all_estimators
        sklearn.utils.all_estimators = lambda: [(cls.__name__, cls) for cls in SAFE_MODEL_CLASSES]
        try:
            import skops.io  # noqa: F401
        finally:
            sklearn.utils.all_estimators = walk
    return sys.modules["skops.io"]


def save_safe_model(model: object, path: str | Path) -> None:
    """Write ``model`` in skops format, the form served without unpickling; same model, same
    bytes."""
    data = _canonical_skops(_skops_io().dumps(model))
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def load_safe_model(path: str | Path, sha256: str | None = None) -> object:
    """A skops model file, after its SHA-256 check, built only from allowed types.

    The only way a model is loaded where it is served (service, batch predict, drift, registry
    fetch): skops builds objects from a JSON schema and numpy arrays and runs no code from the
    file; every type it names must be one of :data:`regpipe.models.SAFE_MODEL_TYPES` (or a
    builtin/numpy type skops trusts itself), otherwise nothing is built. skops' default trust
    of every scikit-learn estimator does not apply: a pipeline holding another estimator is
    refused too.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: model file not found (run `dvc repro` or `dvc checkout`)")
    data = path.read_bytes()
    if sha256 is not None and (actual := hashlib.sha256(data).hexdigest()) != sha256:
        raise UserError(
            f"{path}: refusing to load: sha256 {actual} differs from the recorded {sha256}"
        )
    return loads_safe_model(data, str(path))


def _sklearn_types_named(data: bytes) -> set[str]:
    """Every scikit-learn type a skops file's schema names.

    Checked against the allowlist whatever skops' default trust is: all of scikit-learn when
    something imported skops.io before :func:`_skops_io` did (a test, a user's notebook).
    """
    import zipfile

    with zipfile.ZipFile(io.BytesIO(data)) as source:
        schema = json.loads(source.read("schema.json"))
    named, nodes = set(), [schema]
    while nodes:
        node = nodes.pop()
        if isinstance(node, dict):
            module, name = node.get("__module__"), node.get("__class__")
            if isinstance(module, str) and isinstance(name, str) and module.startswith("sklearn."):
                named.add(f"{module}.{name}")
            nodes.extend(node.values())
        elif isinstance(node, list):
            nodes.extend(node)
    return named


def loads_safe_model(data: bytes, source: str) -> object:
    """:func:`load_safe_model` on bytes already checked; ``source`` names them in errors."""
    import zipfile

    from regpipe.models import SAFE_MODEL_TYPES

    skops_io = _skops_io()
    try:
        untrusted = skops_io.get_untrusted_types(data=data)
        named = _sklearn_types_named(data)
    except (zipfile.BadZipFile, KeyError, ValueError) as error:
        raise UserError(f"{source}: not a skops model file: {error}") from None
    refused = sorted((set(untrusted) | named) - set(SAFE_MODEL_TYPES))
    if refused:
        shown = ", ".join(name[:100] for name in refused[:5])
        raise UserError(
            f"{source}: refusing to load: types outside the allowlist of this project's "
            f"models: {shown}"
        )
    try:
        model = skops_io.loads(data, trusted=list(SAFE_MODEL_TYPES))
    except Exception as error:  # skops raises many kinds on a malformed schema
        raise UserError(f"{source}: cannot load the skops model: {str(error)[:300]}") from None
    if type(model).__module__ + "." + type(model).__qualname__ not in SAFE_MODEL_TYPES:
        raise UserError(f"{source}: a {type(model).__name__}, not one of this project's models")
    return model
