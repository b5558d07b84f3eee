"""Writing a run: `RunWriter` and its commit protocol.

A run is written atomically. Its data tables (samples, and the hosts and
events tables when the run has them) are streamed to staging files while the
run goes on; :meth:`RunWriter.commit` then renames each data table's
partition into place, then the runs partition (the commit marker: a run
exists as a result exactly when its runs partition exists), then records the
run in ``manifest.json``. A crash at any point leaves either nothing visible or a
complete run; :func:`~fleet.results.reader.recover` removes the leftovers. The
runs file also carries the run's manifest entry in its Parquet key-value
metadata, so a crash between the runs rename and the manifest update is
repaired by ``recover`` too.
"""

import contextlib
import datetime as _dt
import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self

import pyarrow as pa
import pyarrow.parquet as pq

from .errors import ResultsError, one_line
from .fs import fsync_file, locked, publish_dir, rmdir_if_empty
from .layout import (
    DATA_TABLES,
    MANIFEST_ENTRY_KEY,
    PART_FILE,
    PARTITION_COLUMNS,
    STAGING,
    check_name,
    partition_dir,
    staging_dir,
)
from .manifest import ensure_manifest, update_manifest
from .provenance import code_fingerprint, machine, package_versions

COMPRESSION = "zstd"
# Samples are buffered up to this many rows before a row group is written, so
# small per-epoch batches do not make tiny row groups; memory stays bounded.
ROW_GROUP_ROWS = 65_536


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


def _utc_now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


class _Stream:
    """One data table of a run being written: its staged Parquet file, its
    schema and the rows buffered for the next row group."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        keep = [f for f in schema if f.name not in PARTITION_COLUMNS]
        self.schema = pa.schema(keep, metadata=schema.metadata)
        self.path = path
        self.writer: pq.ParquetWriter | None = pq.ParquetWriter(path, self.schema, compression=COMPRESSION)
        self.buffer: list[pa.Table] = []
        self.buffered = 0
        self.rows_written = 0

    def flush(self) -> None:
        if self.buffer and self.writer is not None:
            table = pa.concat_tables(self.buffer)
            self.buffer, self.buffered = [], 0
            self.writer.write_table(table, row_group_size=max(ROW_GROUP_ROWS, table.num_rows))
            self.rows_written += table.num_rows

    def close(self) -> None:
        if self.writer is not None:
            with contextlib.suppress(Exception):
                self.writer.close()
            self.writer = None
        self.buffer = []


class RunWriter:
    """Writes one run: streams its data tables to staging, then publishes atomically.

    ``RunWriter(out_dir, experiment, run_id, samples_schema, tables)``
    creates OUT (and an empty manifest) if needed and opens the staging files
    ``OUT/.staging/<experiment>/<run_id>/<table>.parquet`` of ``samples`` and
    of each of ``tables`` (name -> schema; names from DATA_TABLES). Call
    :meth:`write` (or :meth:`write_samples`) any number of times, then
    :meth:`commit` once. As a context manager, an exception (or leaving
    without commit) aborts.

    The schemas fix the column types; ``experiment`` and ``run`` fields, if
    present, are dropped (they are partition columns). Rows are buffered up
    to ROW_GROUP_ROWS per table, then written as one row group;
    ``rows_written`` counts the samples rows already in the file.
    """

    def __init__(
        self,
        out_dir: str | os.PathLike,
        experiment: str,
        run_id: str,
        samples_schema: pa.Schema,
        tables: Mapping[str, pa.Schema] | None = None,
    ) -> None:
        self.out = Path(out_dir)
        self.experiment = check_name("experiment", experiment)
        self.run_id = check_name("run", run_id)
        self.key = f"{experiment}/{run_id}"
        schemas = {"samples": samples_schema, **(tables or {})}
        unknown = [name for name in schemas if name not in DATA_TABLES]
        if unknown:
            raise ValueError(f"unknown results table {unknown[0]!r}; expected one of {DATA_TABLES}")
        self._streams: dict[str, _Stream] = {}
        self._done = False

        self.out.mkdir(parents=True, exist_ok=True)
        ensure_manifest(self.out)
        if self._dir("runs").exists():
            raise ResultsError(f"run {self.key} already committed in {self.out}")
        self.staging = staging_dir(self.out, experiment, run_id)
        for _ in range(5):  # a concurrent abort may rmdir the parent meanwhile
            self.staging.parent.mkdir(parents=True, exist_ok=True)
            try:
                self.staging.mkdir()
                break
            except FileNotFoundError:
                continue
            except FileExistsError:
                raise ResultsError(
                    f"run {self.key} is already being written in {self.out} (or was interrupted: run recover first)"
                ) from None
        else:  # pragma: no cover
            raise ResultsError(f"could not create staging directory {self.staging}")
        try:
            for name in DATA_TABLES:
                if name in schemas:
                    self._streams[name] = _Stream(self.staging / f"{name}.parquet", schemas[name])
        except BaseException:
            for stream in self._streams.values():
                stream.close()
            shutil.rmtree(self.staging, ignore_errors=True)
            raise

    @property
    def samples_schema(self) -> pa.Schema:
        return self._streams["samples"].schema

    @property
    def rows_written(self) -> int:
        return self._streams["samples"].rows_written

    def _dir(self, table: str) -> Path:
        return partition_dir(self.out, table, self.experiment, self.run_id)

    # -- context manager
    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if not self._done:
            self.abort()

    # -- streaming
    def write_samples(self, batch: pa.RecordBatch | pa.Table) -> None:
        """Append sample rows (:meth:`write` of ``samples``)."""
        self.write("samples", batch)

    def write(self, name: str, batch: pa.RecordBatch | pa.Table) -> None:
        """Append rows to data table `name`. Columns are matched by name and
        cast to the table's schema; ``experiment``/``run`` columns are
        ignored, missing or unknown columns are an error."""
        if self._done:
            raise ResultsError(f"run {self.key}: writer is closed")
        stream = self._streams.get(name)
        if stream is None:
            raise ResultsError(f"run {self.key}: no {name} table in this run")
        table = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
        if not isinstance(table, pa.Table):
            raise TypeError(f"write takes a RecordBatch or Table, not {type(batch).__name__}")
        names = set(table.column_names) - set(PARTITION_COLUMNS)
        want = stream.schema.names
        missing = [n for n in want if n not in names]
        extra = sorted(names - set(want))
        if missing or extra:
            raise ResultsError(
                f"run {self.key}: {name} columns do not match the schema"
                + (f"; missing {missing}" if missing else "")
                + (f"; unknown {extra}" if extra else "")
            )
        table = table.select(want)
        if not table.schema.equals(stream.schema):
            try:
                table = table.cast(stream.schema)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
                raise ResultsError(f"run {self.key}: {name} rows do not fit the schema: {one_line(exc)}") from None
        if table.num_rows == 0:
            return
        stream.buffer.append(table)
        stream.buffered += table.num_rows
        if stream.buffered >= ROW_GROUP_ROWS:
            stream.flush()

    def _flush(self) -> None:
        if self._done:  # callers check first: the writer is open until commit or abort
            raise ResultsError(f"run {self.key}: writer is closed")
        for stream in self._streams.values():
            stream.flush()

    # -- publishing
    def commit(
        self, runs_row: Mapping[str, Any] | pa.Table | pa.RecordBatch, manifest_entry: Mapping[str, Any]
    ) -> None:
        """Publish the run: close the data tables' files, write the runs row
        (nested mappings are flattened to "a.b" columns), rename each data
        table's partition into place, then the runs partition (the commit
        marker), then add ``manifest_entry`` to manifest.json under
        ``"<experiment>/<run_id>"``. ``finished`` (UTC ISO time), ``versions``
        (:func:`package_versions`), ``code`` (:func:`code_fingerprint`) and
        ``machine`` (:func:`~.provenance.machine`) are filled in when absent.
        Raises ResultsError if the run is already
        committed; on any failure before publishing, the staging is removed.
        """
        if self._done:
            raise ResultsError(f"run {self.key}: writer is already closed")
        try:
            entry = dict(manifest_entry)
            entry.setdefault("versions", package_versions())
            entry.setdefault("code", code_fingerprint())
            entry.setdefault("machine", machine())
            entry.setdefault("finished", _utc_now())
            try:
                entry_json = json.dumps(entry, sort_keys=True)
            except (TypeError, ValueError) as exc:
                raise ResultsError(f"run {self.key}: manifest entry is not JSON: {one_line(exc)}") from None
            entry = json.loads(entry_json)
            runs_table = self._runs_table(runs_row, entry_json)

            staged: dict[str, Path] = {}
            for name, stream in self._streams.items():
                stream.flush()
                if stream.writer is not None:
                    stream.writer.close()
                    stream.writer = None
                staged[name] = self.staging / name
                staged[name].mkdir()
                os.rename(stream.path, staged[name] / PART_FILE)
                fsync_file(staged[name] / PART_FILE)
            staged_runs = self.staging / "runs"
            staged_runs.mkdir()
            pq.write_table(runs_table, staged_runs / PART_FILE, compression=COMPRESSION)
            fsync_file(staged_runs / PART_FILE)
        except BaseException:
            self.abort()
            raise

        with locked(self.out):
            if self._dir("runs").exists():
                self.abort()
                raise ResultsError(f"run {self.key} already committed in {self.out}")
            for name in staged:
                if self._dir(name).exists():
                    self.abort()
                    raise ResultsError(
                        f"run {self.key}: {name} partition {self._dir(name)} exists without "
                        "its runs partition (an interrupted run): run recover first"
                    )
            published: list[Path] = []
            try:
                for name, path in staged.items():
                    publish_dir(path, self._dir(name))
                    published.append(self._dir(name))
                publish_dir(staged_runs, self._dir("runs"))
            except BaseException:
                for path in published:
                    shutil.rmtree(path, ignore_errors=True)
                self.abort()
                raise
            # Committed. The manifest entry is also in the runs file, so a
            # failure below is repaired by recover().
            self._done = True
            self._cleanup_staging()
            update_manifest(self.out, {self.key: entry})

    def _runs_table(self, runs_row: Mapping[str, Any] | pa.Table | pa.RecordBatch, entry_json: str) -> pa.Table:
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
                raise ResultsError(f"run {self.key}: runs row cannot be stored: {one_line(exc)}") from None
        if table.num_columns == 0:
            raise ResultsError(f"run {self.key}: runs row has no columns")
        meta = dict(table.schema.metadata or {})
        meta[MANIFEST_ENTRY_KEY] = entry_json.encode()
        return table.replace_schema_metadata(meta)

    def _cleanup_staging(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)
        rmdir_if_empty(self.staging.parent, self.out / STAGING)

    def abort(self) -> None:
        """Discard the run: close the writers and delete its staging directory.
        Idempotent; a no-op after a successful commit."""
        if self._done:
            return
        self._done = True
        for stream in self._streams.values():
            stream.close()
        self._cleanup_staging()
