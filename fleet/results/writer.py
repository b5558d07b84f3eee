"""Writing a run: `RunWriter` and its commit protocol.

A run is written atomically. Samples are streamed to a staging file while the
run goes on; :meth:`RunWriter.commit` then renames the samples partition into
place, then the runs partition (the commit marker: a run exists as a result
exactly when its runs partition exists), then records the run in
``manifest.json``. A crash at any point leaves either nothing visible or a
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
        self.experiment = check_name("experiment", experiment)
        self.run_id = check_name("run", run_id)
        self.key = f"{experiment}/{run_id}"
        keep = [f for f in samples_schema if f.name not in PARTITION_COLUMNS]
        self.samples_schema = pa.schema(keep, metadata=samples_schema.metadata)
        self.rows_written = 0
        self._writer: pq.ParquetWriter | None = None
        self._buffer: list[pa.Table] = []
        self._buffered = 0
        self._done = False

        self.out.mkdir(parents=True, exist_ok=True)
        ensure_manifest(self.out)
        if self._runs_dir.exists():
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
        return partition_dir(self.out, "samples", self.experiment, self.run_id)

    @property
    def _runs_dir(self) -> Path:
        return partition_dir(self.out, "runs", self.experiment, self.run_id)

    # -- context manager
    def __enter__(self) -> Self:
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
                raise ResultsError(f"run {self.key}: samples do not fit the schema: {one_line(exc)}") from None
        if table.num_rows == 0:
            return
        self._buffer.append(table)
        self._buffered += table.num_rows
        if self._buffered >= ROW_GROUP_ROWS:
            self._flush()

    def _flush(self) -> None:
        if self._buffer:
            if self._writer is None:  # callers check first: the writer is open until commit or abort
                raise ResultsError(f"run {self.key}: writer is closed")
            table = pa.concat_tables(self._buffer)
            self._buffer, self._buffered = [], 0
            self._writer.write_table(table, row_group_size=max(ROW_GROUP_ROWS, table.num_rows))
            self.rows_written += table.num_rows

    # -- publishing
    def commit(
        self, runs_row: Mapping[str, Any] | pa.Table | pa.RecordBatch, manifest_entry: Mapping[str, Any]
    ) -> None:
        """Publish the run: close the samples file, write the runs row
        (nested mappings are flattened to "a.b" columns), rename the samples
        partition into place, then the runs partition (the commit marker),
        then add ``manifest_entry`` to manifest.json under ``"<experiment>/<run_id>"``.
        ``finished`` (UTC ISO time), ``versions`` (:func:`package_versions`),
        ``code`` (:func:`code_fingerprint`) and ``machine``
        (:func:`~.provenance.machine`) are filled in when absent. Raises ResultsError if the run is already
        committed; on any failure before publishing, the staging is removed.
        """
        if self._done or self._writer is None:
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

            self._flush()
            self._writer.close()
            self._writer = None
            staged_samples = self.staging / "samples"
            staged_samples.mkdir()
            os.rename(self.staging / "samples.parquet", staged_samples / PART_FILE)
            fsync_file(staged_samples / PART_FILE)
            staged_runs = self.staging / "runs"
            staged_runs.mkdir()
            pq.write_table(runs_table, staged_runs / PART_FILE, compression=COMPRESSION)
            fsync_file(staged_runs / PART_FILE)
        except BaseException:
            self.abort()
            raise

        with locked(self.out):
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
                publish_dir(staged_samples, self._samples_dir)
            except BaseException:
                self.abort()
                raise
            try:
                publish_dir(staged_runs, self._runs_dir)
            except BaseException:
                shutil.rmtree(self._samples_dir, ignore_errors=True)
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
