"""Reading a results folder and keeping it sound: which runs are committed,
the tables of committed runs, and `recover` for the leftovers of interrupted
runs."""

import contextlib
import hashlib
import json
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from .errors import ResultsError, one_line
from .fs import locked, rmdir_if_empty
from .layout import (
    DATA_TABLES,
    MANIFEST,
    MANIFEST_ENTRY_KEY,
    PART_FILE,
    PARTITION_COLUMNS,
    PARTITIONING,
    STAGING,
    TABLES,
    decode_name,
    partition_dir,
    partitions,
)
from .manifest import read_manifest, update_manifest
from .provenance import code_fingerprint


def _committed(out: Path, experiment: str | None = None) -> list[tuple[str, str]]:
    return [
        (e, r)
        for e, r, d in partitions(out, "runs")
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
    committed: staged, or with a data partition (samples, hosts, events) but
    no runs partition."""
    out = Path(out_dir)
    keys: set[str] = set()
    staging = out / STAGING
    if staging.is_dir():
        for exp_dir in staging.iterdir():
            if exp_dir.is_dir():
                keys.update(f"{decode_name(exp_dir.name)}/{decode_name(r.name)}" for r in exp_dir.iterdir())
    committed = set(_committed(out))
    for table in DATA_TABLES:
        keys.update(f"{e}/{r}" for e, r, _ in partitions(out, table) if (e, r) not in committed)
    return sorted(keys)


def committed_files(out_dir: str | os.PathLike, name: str) -> list[Path]:
    """The ``name`` table's file of every committed run, in commit-marker
    order; ResultsError if one is missing."""
    out = Path(out_dir)
    files = []
    for e, r in _committed(out):
        path = partition_dir(out, name, e, r) / PART_FILE
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
    runs = read_manifest(out)["runs"]
    return sorted(k for k in keys if runs.get(k, {}).get("code") != code_fingerprint())


def recover(out_dir: str | os.PathLike) -> list[str]:
    """Remove the leftovers of interrupted runs and return their
    ``"<experiment>/<run_id>"`` keys (sorted).

    Removes everything under OUT/.staging, every data partition without its
    runs partition (a crash between the renames) and stray manifest
    temp files; adds to manifest.json the entries of committed runs missing
    from it (a crash after the runs rename), taken from their runs files.

    Call it before a sweep starts writing, e.g. under
    :func:`~fleet.results.fs.lock_out_dir`: it deletes the staging of any run
    still being written.
    """
    out = Path(out_dir)
    if not out.is_dir():
        return []
    with locked(out):
        removed = uncommitted_runs(out)
        shutil.rmtree(out / STAGING, ignore_errors=True)
        committed = set(_committed(out))
        for table in DATA_TABLES:
            for e, r, d in list(partitions(out, table)):
                if (e, r) not in committed:
                    shutil.rmtree(d, ignore_errors=True)
        for table in TABLES:
            base = out / table
            if base.is_dir():
                for exp_dir in base.iterdir():
                    rmdir_if_empty(exp_dir)
        for tmp in out.glob(".manifest.*.tmp"):
            with contextlib.suppress(OSError):
                tmp.unlink()
        # Repair the manifest from the runs files' metadata.
        if committed or (out / MANIFEST).exists():
            known = read_manifest(out)["runs"] if (out / MANIFEST).exists() else {}
            missing: dict[str, dict] = {}
            for e, r in sorted(committed):
                key = f"{e}/{r}"
                if key in known:
                    continue
                path = partition_dir(out, "runs", e, r) / PART_FILE
                try:
                    meta = pq.read_schema(path).metadata or {}
                    missing[key] = json.loads(meta[MANIFEST_ENTRY_KEY])
                except Exception as exc:
                    raise ResultsError(f"cannot repair the manifest from {path}: {one_line(exc)}") from None
            if missing or not (out / MANIFEST).exists():
                update_manifest(out, missing)
    return removed


def read_table(out_dir: str | os.PathLike, name: str) -> pa.Table:
    """Read a table (``samples``, ``hosts``, ``events``, ``runs``) of committed runs as one Arrow
    table, through ``pyarrow.dataset`` with hive partitioning; ``experiment``
    and ``run`` come first, as strings. Schemas of different runs are unified
    (a column missing from a run reads as null; int and float widen to float).

    Raises ResultsError (one line, naming the file) if OUT is not a results
    folder, or a file is missing, truncated or corrupt.
    """
    if name not in TABLES:
        raise ValueError(f"unknown results table {name!r}; expected one of {TABLES}")
    out = Path(out_dir)
    read_manifest(out)
    files = committed_files(out, name)

    part_fields = list(PARTITIONING.schema)
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
        unified = pa.unify_schemas([s.remove_metadata() for s in schemas], promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise ResultsError(f"incompatible column types across runs in {out / name}: {one_line(exc)}") from None
    data_fields = [f for f in unified if f.name not in PARTITION_COLUMNS]
    schema = pa.schema(data_fields + part_fields)
    try:
        dataset = ds.dataset(
            [str(p) for p in files],
            schema=schema,
            format="parquet",
            partitioning=PARTITIONING,
            partition_base_dir=str(out / name),
        )
        table = dataset.to_table()
    except Exception as exc:
        raise_for_unreadable(files)
        raise ResultsError(f"cannot read results table {out / name}: {one_line(exc)}") from None
    order = list(PARTITION_COLUMNS) + [f.name for f in data_fields]
    return table.select(order).replace_schema_metadata(None)


def raise_for_unreadable(files: Iterable[Path]) -> None:
    """Raise a ResultsError naming the first file that does not read on its own."""
    bad = []
    files = list(files)
    for path in files:
        try:
            pq.ParquetFile(path).read()
        except Exception as exc:
            bad.append((path, exc))
    if bad:
        first, error = bad[0]
        fine = len(files) - len(bad)
        raise ResultsError(
            f"corrupt or truncated results file {first}: {one_line(error)} "
            f"({len(bad)} bad file(s); {fine} of {len(files)} read fine)"
        ) from None


def samples_hash(out_dir: str | os.PathLike) -> str:
    """A content hash of the committed samples rows (the experiment column
    left out, rows in (run, time, host, guest) order): equal hashes mean equal
    rows."""
    table = read_table(out_dir, "samples").drop_columns(["experiment"])
    table = table.sort_by(
        [("run", "ascending"), ("time_s", "ascending"), ("host", "ascending"), ("guest", "ascending")]
    )
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()
