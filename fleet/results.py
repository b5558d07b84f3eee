"""Results: Parquet datasets written atomically and streamed.

Layout of a results folder OUT::

    OUT/manifest.json
    OUT/samples/experiment=<name>/run=<run_id>/part-0.parquet   one row per guest per sample
    OUT/runs/experiment=<name>/run=<run_id>/part-0.parquet      one row per run
    OUT/.staging/<name>/<run_id>/...                            runs being written
    OUT/.lock                                                   flock: manifest updates, publishing
    OUT/.sweep.lock                                             flock: one sweep per folder

``experiment`` and ``run`` are hive partition columns: they live in the
directory names, not inside the files, and read back as strings. Names may hold
any character: in directory names they are percent-encoded (``seed=1`` ->
``run=seed%3D1``) as Arrow's and DuckDB's hive writers do, and both decode them.

A run is written atomically. Samples are streamed to a staging file while the
run goes on; :meth:`RunWriter.commit` then renames the samples partition into
place, then the runs partition (the commit marker: a run exists as a result
exactly when its runs partition exists), then records the run in
``manifest.json``. A crash at any point leaves either nothing visible or a
complete run; :func:`recover` removes the leftovers. The runs file also carries
the run's manifest entry in its Parquet key-value metadata, so a crash between
the runs rename and the manifest update is repaired by :func:`recover` too.

Typical sweep::

    with lock_out_dir(out):
        recover(out)
        done = committed_runs(out, experiment=name)
        for run_id, spec in runs:
            if run_id in done:
                continue
            with RunWriter(out, name, run_id, SAMPLES_SCHEMA) as w:
                for batch in simulate(spec):
                    w.write_samples(batch)
                w.commit(runs_row, {"spec": spec, "seed": seed})
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import fcntl
import functools
import hashlib
import importlib.metadata
import json
import os
import platform
import shutil
import tempfile
import urllib.parse
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from .memory.jit import PACKAGE_DIR, tree_digest

__all__ = [
    "MANIFEST_FORMAT",
    "PARTITION_COLUMNS",
    "ResultsError",
    "RunWriter",
    "code_fingerprint",
    "committed_files",
    "committed_runs",
    "runs_from_other_code",
    "flatten",
    "lock_out_dir",
    "package_versions",
    "read_table",
    "recover",
    "uncommitted_runs",
]

MANIFEST_FORMAT = 1
PARTITION_COLUMNS = ("experiment", "run")
TABLES = ("samples", "runs")
PART_FILE = "part-0.parquet"
MANIFEST = "manifest.json"
STAGING = ".staging"
LOCK = ".lock"
SWEEP_LOCK = ".sweep.lock"
COMPRESSION = "zstd"
# Samples are buffered up to this many rows before a row group is written, so
# small per-epoch batches do not make tiny row groups; memory stays bounded.
ROW_GROUP_ROWS = 65_536
# Key of the runs file's Parquet metadata holding the run's manifest entry.
_META_KEY = b"balloonfleet.manifest_entry"

_PARTITIONING = ds.partitioning(
    pa.schema([(c, pa.string()) for c in PARTITION_COLUMNS]), flavor="hive"
)
_DISTRIBUTIONS = ("numpy", "numba", "pyarrow", "ray", "typer", "balloonfleet")


class ResultsError(Exception):
    """A results folder is unusable, or an operation on it is refused."""


# --------------------------------------------------------------------------
# small helpers


def _encode(value: str) -> str:
    """Percent-encode a partition value for a directory name: everything but
    letters, digits and "_.-~" becomes %XX (UTF-8), as DuckDB's and Arrow's
    hive writers do; both decode it back when reading."""
    return urllib.parse.quote(value, safe="")


def _decode(segment: str) -> str:
    return urllib.parse.unquote(segment)


def _check_name(kind: str, value: str) -> str:
    if not isinstance(value, str) or value in ("", ".", "..") or len(_encode(value)) > 200:
        raise ResultsError(
            f"invalid {kind} name {value!r}: must be a non-empty string other than "
            "'.' and '..', at most 200 characters once percent-encoded"
        )
    return value


def _partition_dir(out: Path, table: str, experiment: str, run_id: str) -> Path:
    return out / table / f"experiment={_encode(experiment)}" / f"run={_encode(run_id)}"


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems refuse fsync on directories
        pass
    finally:
        os.close(fd)


def _publish_dir(src: Path, dst: Path) -> None:
    """Rename a finished partition directory into place (atomic on POSIX)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    os.rename(src, dst)
    _fsync_dir(dst.parent)


def _rmdir_if_empty(*paths: Path) -> None:
    for p in paths:
        try:
            p.rmdir()
        except OSError:
            return


@contextlib.contextmanager
def _locked(out: Path) -> Iterator[None]:
    """Exclusive blocking flock on OUT/.lock (manifest updates, publishing).

    flock locks belong to the open file description, so this excludes other
    processes and also other threads of this process (each call opens anew).
    """
    fd = os.open(out / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


@functools.lru_cache(maxsize=1)
def _versions() -> tuple[tuple[str, str], ...]:
    found = [("python", platform.python_version())]
    for dist in _DISTRIBUTIONS:
        try:
            found.append((dist, importlib.metadata.version(dist)))
        except importlib.metadata.PackageNotFoundError:
            pass
    return tuple(found)


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """A digest of the simulator's own files (every .py and .parquet of the
    fleet and policies packages): runs made by different code must not be
    mixed in one folder or resumed."""
    import policies

    return tree_digest([PACKAGE_DIR, Path(policies.__file__).parent], (".py", ".parquet"))


def package_versions() -> dict[str, str]:
    """Versions of Python and of the packages that shape results (numpy,
    numba, pyarrow, ray, typer, balloonfleet); packages not installed are
    skipped."""
    return dict(_versions())


def flatten(row: Mapping[str, Any]) -> dict[str, Any]:
    """Flatten nested mappings: {"a": {"b": 1}} -> {"a.b": 1}."""
    flat: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, Mapping):
            for sub, v in flatten(value).items():
                flat[f"{key}.{sub}"] = v
        else:
            flat[str(key)] = value
    return flat


def _plain(value: Any) -> Any:
    """numpy scalars -> Python scalars, so int -> int64 and float -> double
    whatever width the caller's numpy value had."""
    item = getattr(value, "item", None)
    if item is not None and getattr(value, "shape", None) == ():
        return item()
    return value


# --------------------------------------------------------------------------
# manifest


def _read_manifest(out: Path) -> dict:
    path = out / MANIFEST
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ResultsError(f"{out} is not a results folder (no {MANIFEST})") from None
    except (OSError, ValueError) as exc:
        raise ResultsError(f"unreadable manifest {path}: {_one_line(exc)}") from None
    if (
        not isinstance(data, dict)
        or data.get("format") != MANIFEST_FORMAT
        or not isinstance(data.get("runs"), dict)
    ):
        raise ResultsError(
            f"unsupported manifest {path}: expected format {MANIFEST_FORMAT} with a 'runs' table"
        )
    return data


def _write_manifest(out: Path, data: dict) -> None:
    """Write manifest.json atomically (temp file + fsync + os.replace).
    The caller holds the OUT/.lock."""
    fd, tmp = tempfile.mkstemp(dir=out, prefix=".manifest.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1, sort_keys=True)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, out / MANIFEST)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(out)


def _update_manifest(out: Path, entries: Mapping[str, dict]) -> None:
    """Add entries to the manifest (creating it if needed). Caller holds the lock."""
    if (out / MANIFEST).exists():
        data = _read_manifest(out)
    else:
        data = {"format": MANIFEST_FORMAT, "runs": {}}
    data["runs"].update(entries)
    _write_manifest(out, data)


def _ensure_manifest(out: Path) -> None:
    if not (out / MANIFEST).exists():
        with _locked(out):
            if not (out / MANIFEST).exists():
                _update_manifest(out, {})


# --------------------------------------------------------------------------
# writing


class RunWriter:
    """Writes one run: streams samples to staging, then publishes atomically.

    ``RunWriter(out_dir, experiment, run_id, samples_schema)`` creates OUT
    (and an empty manifest) if needed and opens the staging file
    ``OUT/.staging/<experiment>/<run_id>/samples.parquet``. Call
    :meth:`write_samples` any number of times, then :meth:`commit` once.
    As a context manager, an exception (or leaving without commit) aborts.

    ``samples_schema`` fixes the samples column types; ``experiment`` and
    ``run`` fields, if present, are dropped (they are partition columns).
    Samples are buffered up to ROW_GROUP_ROWS rows, then written as one row
    group; ``rows_written`` counts the rows already in the file.
    """

    def __init__(
        self,
        out_dir: str | os.PathLike,
        experiment: str,
        run_id: str,
        samples_schema: pa.Schema,
    ) -> None:
        self.out = Path(out_dir)
        self.experiment = _check_name("experiment", experiment)
        self.run_id = _check_name("run", run_id)
        self.key = f"{experiment}/{run_id}"
        keep = [f for f in samples_schema if f.name not in PARTITION_COLUMNS]
        self.samples_schema = pa.schema(keep, metadata=samples_schema.metadata)
        self.rows_written = 0
        self._writer: pq.ParquetWriter | None = None
        self._buffer: list[pa.Table] = []
        self._buffered = 0
        self._done = False

        self.out.mkdir(parents=True, exist_ok=True)
        _ensure_manifest(self.out)
        if self._runs_dir.exists():
            raise ResultsError(f"run {self.key} already committed in {self.out}")
        self.staging = self.out / STAGING / _encode(experiment) / _encode(run_id)
        for _ in range(5):  # a concurrent abort may rmdir the parent meanwhile
            self.staging.parent.mkdir(parents=True, exist_ok=True)
            try:
                self.staging.mkdir()
                break
            except FileNotFoundError:
                continue
            except FileExistsError:
                raise ResultsError(
                    f"run {self.key} is already being written in {self.out} "
                    f"(or was interrupted: run recover first)"
                ) from None
        else:  # pragma: no cover
            raise ResultsError(f"could not create staging directory {self.staging}")
        try:
            self._writer = pq.ParquetWriter(
                self.staging / "samples.parquet",
                self.samples_schema,
                compression=COMPRESSION,
            )
        except BaseException:
            shutil.rmtree(self.staging, ignore_errors=True)
            raise

    @property
    def _samples_dir(self) -> Path:
        return _partition_dir(self.out, "samples", self.experiment, self.run_id)

    @property
    def _runs_dir(self) -> Path:
        return _partition_dir(self.out, "runs", self.experiment, self.run_id)

    # -- context manager
    def __enter__(self) -> RunWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if not self._done:
            self.abort()

    # -- streaming
    def write_samples(self, batch: pa.RecordBatch | pa.Table) -> None:
        """Append sample rows. Columns are matched by name and cast to the
        samples schema; ``experiment``/``run`` columns are ignored, missing
        or unknown columns are an error."""
        if self._done or self._writer is None:
            raise ResultsError(f"run {self.key}: writer is closed")
        table = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
        if not isinstance(table, pa.Table):
            raise TypeError(f"write_samples takes a RecordBatch or Table, not {type(batch).__name__}")
        names = set(table.column_names) - set(PARTITION_COLUMNS)
        want = self.samples_schema.names
        missing = [n for n in want if n not in names]
        extra = sorted(names - set(want))
        if missing or extra:
            raise ResultsError(
                f"run {self.key}: samples columns do not match the schema"
                + (f"; missing {missing}" if missing else "")
                + (f"; unknown {extra}" if extra else "")
            )
        table = table.select(want)
        if not table.schema.equals(self.samples_schema):
            try:
                table = table.cast(self.samples_schema)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
                raise ResultsError(f"run {self.key}: samples do not fit the schema: {_one_line(exc)}") from None
        if table.num_rows == 0:
            return
        self._buffer.append(table)
        self._buffered += table.num_rows
        if self._buffered >= ROW_GROUP_ROWS:
            self._flush()

    def _flush(self) -> None:
        if self._buffer:
            table = pa.concat_tables(self._buffer)
            self._buffer, self._buffered = [], 0
            self._writer.write_table(table, row_group_size=max(ROW_GROUP_ROWS, table.num_rows))
            self.rows_written += table.num_rows

    # -- publishing
    def commit(self, runs_row: Mapping[str, Any] | pa.Table | pa.RecordBatch, manifest_entry: Mapping[str, Any]) -> None:
        """Publish the run: close the samples file, write the runs row
        (nested mappings are flattened to "a.b" columns), rename the samples
        partition into place, then the runs partition (the commit marker),
        then add ``manifest_entry`` to manifest.json under ``"<experiment>/<run_id>"``.
        ``finished`` (UTC ISO time), ``versions`` (:func:`package_versions`)
        and ``code`` (:func:`code_fingerprint`) are filled in when absent. Raises ResultsError if the run is already
        committed; on any failure before publishing, the staging is removed.
        """
        if self._done:
            raise ResultsError(f"run {self.key}: writer is already closed")
        try:
            entry = dict(manifest_entry)
            entry.setdefault("versions", package_versions())
            entry.setdefault("code", code_fingerprint())
            entry.setdefault("finished", _utc_now())
            try:
                entry_json = json.dumps(entry, sort_keys=True)
            except (TypeError, ValueError) as exc:
                raise ResultsError(f"run {self.key}: manifest entry is not JSON: {_one_line(exc)}") from None
            entry = json.loads(entry_json)
            runs_table = self._runs_table(runs_row, entry_json)

            self._flush()
            self._writer.close()
            self._writer = None
            staged_samples = self.staging / "samples"
            staged_samples.mkdir()
            os.rename(self.staging / "samples.parquet", staged_samples / PART_FILE)
            _fsync_file(staged_samples / PART_FILE)
            staged_runs = self.staging / "runs"
            staged_runs.mkdir()
            pq.write_table(runs_table, staged_runs / PART_FILE, compression=COMPRESSION)
            _fsync_file(staged_runs / PART_FILE)
        except BaseException:
            self.abort()
            raise

        with _locked(self.out):
            if self._runs_dir.exists():
                self.abort()
                raise ResultsError(f"run {self.key} already committed in {self.out}")
            if self._samples_dir.exists():
                self.abort()
                raise ResultsError(
                    f"run {self.key}: samples partition {self._samples_dir} exists without "
                    "its runs partition (an interrupted run): run recover first"
                )
            try:
                _publish_dir(staged_samples, self._samples_dir)
            except BaseException:
                self.abort()
                raise
            try:
                _publish_dir(staged_runs, self._runs_dir)
            except BaseException:
                shutil.rmtree(self._samples_dir, ignore_errors=True)
                self.abort()
                raise
            # Committed. The manifest entry is also in the runs file, so a
            # failure below is repaired by recover().
            self._done = True
            self._cleanup_staging()
            _update_manifest(self.out, {self.key: entry})

    def _runs_table(self, runs_row, entry_json: str) -> pa.Table:
        if isinstance(runs_row, pa.RecordBatch):
            runs_row = pa.Table.from_batches([runs_row])
        if isinstance(runs_row, pa.Table):
            if runs_row.num_rows != 1:
                raise ResultsError(f"run {self.key}: runs row must be one row, got {runs_row.num_rows}")
            row = {name: runs_row.column(name)[0].as_py() for name in runs_row.column_names}
            table = runs_row
        else:
            row = flatten(runs_row)
            table = None
        for col, value in ((PARTITION_COLUMNS[0], self.experiment), (PARTITION_COLUMNS[1], self.run_id)):
            if col in row and str(row[col]) != value:
                raise ResultsError(f"run {self.key}: runs row has {col}={row[col]!r}, expected {value!r}")
        if table is not None:
            keep = [n for n in table.column_names if n not in PARTITION_COLUMNS]
            table = table.select(keep)
        else:
            cols = {k: [_plain(v)] for k, v in row.items() if k not in PARTITION_COLUMNS}
            try:
                table = pa.table(cols)
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
                raise ResultsError(f"run {self.key}: runs row cannot be stored: {_one_line(exc)}") from None
        if table.num_columns == 0:
            raise ResultsError(f"run {self.key}: runs row has no columns")
        meta = dict(table.schema.metadata or {})
        meta[_META_KEY] = entry_json.encode()
        return table.replace_schema_metadata(meta)

    def _cleanup_staging(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)
        _rmdir_if_empty(self.staging.parent, self.out / STAGING)

    def abort(self) -> None:
        """Discard the run: close the writer and delete its staging directory.
        Idempotent; a no-op after a successful commit."""
        if self._done:
            return
        self._done = True
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.close()
            self._writer = None
        self._buffer = []
        self._cleanup_staging()


# --------------------------------------------------------------------------
# reading and maintenance


def _partitions(out: Path, table: str) -> Iterator[tuple[str, str, Path]]:
    """(experiment, run_id, dir) for each partition directory of a table."""
    base = out / table
    if not base.is_dir():
        return
    for exp_dir in sorted(base.iterdir()):
        if not exp_dir.is_dir() or not exp_dir.name.startswith("experiment="):
            continue
        experiment = _decode(exp_dir.name.partition("=")[2])
        for run_dir in sorted(exp_dir.iterdir()):
            if run_dir.is_dir() and run_dir.name.startswith("run="):
                yield experiment, _decode(run_dir.name.partition("=")[2]), run_dir


def _committed(out: Path, experiment: str | None = None) -> list[tuple[str, str]]:
    return [
        (e, r)
        for e, r, d in _partitions(out, "runs")
        if (experiment is None or e == experiment) and (d / PART_FILE).is_file()
    ]


def committed_runs(out_dir: str | os.PathLike, experiment: str | None = None) -> set[str]:
    """Runs whose runs partition exists (the commit marker).

    With ``experiment`` given: the set of its run ids (for resuming a sweep:
    ``if run_id in committed_runs(out, name): skip``). Without: the set of
    ``"<experiment>/<run_id>"`` keys over all experiments (the manifest keys).
    A folder with no results yields an empty set.
    """
    out = Path(out_dir)
    if experiment is not None:
        return {r for _, r in _committed(out, experiment)}
    return {f"{e}/{r}" for e, r in _committed(out)}


def uncommitted_runs(out_dir: str | os.PathLike) -> list[str]:
    """``"<experiment>/<run_id>"`` keys (sorted) of runs begun and not
    committed: staged, or with a samples partition but no runs partition."""
    out = Path(out_dir)
    keys: set[str] = set()
    staging = out / STAGING
    if staging.is_dir():
        for exp_dir in staging.iterdir():
            if exp_dir.is_dir():
                keys.update(f"{_decode(exp_dir.name)}/{_decode(r.name)}" for r in exp_dir.iterdir())
    committed = set(_committed(out))
    keys.update(f"{e}/{r}" for e, r, _ in _partitions(out, "samples") if (e, r) not in committed)
    return sorted(keys)


def committed_files(out_dir: str | os.PathLike, name: str) -> list[Path]:
    """The ``name`` table's file of every committed run, in commit-marker
    order; ResultsError if one is missing."""
    out = Path(out_dir)
    files = []
    for e, r in _committed(out):
        path = _partition_dir(out, name, e, r) / PART_FILE
        if not path.is_file():
            raise ResultsError(f"missing results file {path} (committed run {e}/{r})")
        files.append(path)
    return files


def runs_from_other_code(out_dir: str | os.PathLike) -> list[str]:
    """Committed runs ("<experiment>/<run_id>") whose manifest entry names
    other simulator code than this one's (or none), sorted."""
    out = Path(out_dir)
    keys = committed_runs(out)
    if not keys:
        return []
    runs = _read_manifest(out)["runs"]
    return sorted(k for k in keys if runs.get(k, {}).get("code") != code_fingerprint())


def recover(out_dir: str | os.PathLike) -> list[str]:
    """Remove the leftovers of interrupted runs and return their
    ``"<experiment>/<run_id>"`` keys (sorted).

    Removes everything under OUT/.staging, every samples partition without
    its runs partition (a crash between the two renames) and stray manifest
    temp files; adds to manifest.json the entries of committed runs missing
    from it (a crash after the runs rename), taken from their runs files.

    Call it before a sweep starts writing, e.g. under :func:`lock_out_dir`:
    it deletes the staging of any run still being written.
    """
    out = Path(out_dir)
    if not out.is_dir():
        return []
    with _locked(out):
        removed = uncommitted_runs(out)
        shutil.rmtree(out / STAGING, ignore_errors=True)
        committed = set(_committed(out))
        for e, r, d in list(_partitions(out, "samples")):
            if (e, r) not in committed:
                shutil.rmtree(d, ignore_errors=True)
        for table in TABLES:
            base = out / table
            if base.is_dir():
                for exp_dir in base.iterdir():
                    _rmdir_if_empty(exp_dir)
        for tmp in out.glob(".manifest.*.tmp"):
            with contextlib.suppress(OSError):
                tmp.unlink()
        # Repair the manifest from the runs files' metadata.
        if committed or (out / MANIFEST).exists():
            known = _read_manifest(out)["runs"] if (out / MANIFEST).exists() else {}
            missing: dict[str, dict] = {}
            for e, r in sorted(committed):
                key = f"{e}/{r}"
                if key in known:
                    continue
                path = _partition_dir(out, "runs", e, r) / PART_FILE
                try:
                    meta = pq.read_schema(path).metadata or {}
                    missing[key] = json.loads(meta[_META_KEY])
                except Exception as exc:
                    raise ResultsError(f"cannot repair the manifest from {path}: {_one_line(exc)}") from None
            if missing or not (out / MANIFEST).exists():
                _update_manifest(out, missing)
    return removed


def read_table(out_dir: str | os.PathLike, name: str) -> pa.Table:
    """Read the ``samples`` or ``runs`` table of committed runs as one Arrow
    table, through ``pyarrow.dataset`` with hive partitioning; ``experiment``
    and ``run`` come first, as strings. Schemas of different runs are unified
    (a column missing from a run reads as null; int and float widen to float).

    Raises ResultsError (one line, naming the file) if OUT is not a results
    folder, or a file is missing, truncated or corrupt.
    """
    if name not in TABLES:
        raise ValueError(f"unknown results table {name!r}; expected one of {TABLES}")
    out = Path(out_dir)
    _read_manifest(out)
    files = committed_files(out, name)

    part_fields = list(_PARTITIONING.schema)
    if not files:
        return pa.schema(part_fields).empty_table()

    schemas = []
    for path in files:
        try:
            schemas.append(pq.read_schema(path))
        except Exception:
            raise_for_unreadable(files)
            raise
    try:
        unified = pa.unify_schemas(
            [s.remove_metadata() for s in schemas], promote_options="permissive"
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise ResultsError(f"incompatible column types across runs in {out / name}: {_one_line(exc)}") from None
    data_fields = [f for f in unified if f.name not in PARTITION_COLUMNS]
    schema = pa.schema(data_fields + part_fields)
    try:
        dataset = ds.dataset(
            [str(p) for p in files],
            schema=schema,
            format="parquet",
            partitioning=_PARTITIONING,
            partition_base_dir=str(out / name),
        )
        table = dataset.to_table()
    except Exception as exc:
        raise_for_unreadable(files)
        raise ResultsError(f"cannot read results table {out / name}: {_one_line(exc)}") from None
    order = list(PARTITION_COLUMNS) + [f.name for f in data_fields]
    return table.select(order).replace_schema_metadata(None)


@contextlib.contextmanager
def lock_out_dir(out_dir: str | os.PathLike) -> Iterator[Path]:
    """Hold an exclusive, non-blocking flock on OUT/.sweep.lock for the
    duration of a sweep; yields OUT (created if needed). Raises ResultsError
    ``another fleet run is writing to OUT (pid N)`` if another process (or
    another holder in this one) has it."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / SWEEP_LOCK
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            try:
                holder = os.pread(fd, 32, 0).decode().strip() or "?"
            except (OSError, UnicodeDecodeError):
                holder = "?"
            raise ResultsError(f"another fleet run is writing to {out} (pid {holder})") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield out
    finally:
        os.close(fd)  # releases the lock; the file stays (removing it would race)


def raise_for_unreadable(files) -> None:
    """Raise a ResultsError naming the first file that does not read on its own."""
    bad = []
    files = list(files)
    for path in files:
        try:
            pq.ParquetFile(path).read()
        except Exception as exc:
            bad.append((path, exc))
    if bad:
        path, exc = bad[0]
        fine = len(files) - len(bad)
        raise ResultsError(
            f"corrupt or truncated results file {path}: {_one_line(exc)} "
            f"({len(bad)} bad file(s); {fine} of {len(files)} read fine)"
        ) from None


def samples_hash(out_dir) -> str:
    """A content hash of the committed samples rows (partition columns left
    out, rows in (run, time, host, guest) order): equal hashes mean equal rows."""
    table = read_table(out_dir, "samples").drop_columns(["experiment"])
    table = table.sort_by([("run", "ascending"), ("time_s", "ascending"), ("host", "ascending"), ("guest", "ascending")])
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()
