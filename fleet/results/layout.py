"""Where everything lives in a results folder OUT, and how names map to paths::

    OUT/manifest.json
    OUT/samples/experiment=<name>/run=<run_id>/part-0.parquet   one row per guest per sample
    OUT/hosts/experiment=<name>/run=<run_id>/part-0.parquet     one row per host per sample
    OUT/events/experiment=<name>/run=<run_id>/part-0.parquet    policy decisions, OOM kills, swap storms
    OUT/runs/experiment=<name>/run=<run_id>/part-0.parquet      one row per run (the commit marker)
    OUT/.staging/<name>/<run_id>/...                            runs being written
    OUT/.lock                                                   flock: manifest updates, publishing
    OUT/.sweep.lock                                             flock: one sweep per folder

``experiment`` and ``run`` are hive partition columns: they live in the
directory names, not inside the files, and read back as strings. Names may hold
any character: in directory names they are percent-encoded (``seed=1`` ->
``run=seed%3D1``) as Arrow's and DuckDB's hive writers do, and both decode them.
"""

import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds

from .errors import ResultsError

PARTITION_COLUMNS = ("experiment", "run")
DATA_TABLES = ("samples", "hosts", "events")  # streamed during a run; published before its runs row
TABLES = (*DATA_TABLES, "runs")
PART_FILE = "part-0.parquet"
MANIFEST = "manifest.json"
STAGING = ".staging"
LOCK = ".lock"
SWEEP_LOCK = ".sweep.lock"
# Key of the runs file's Parquet metadata holding the run's manifest entry.
MANIFEST_ENTRY_KEY = b"balloonfleet.manifest_entry"

PARTITIONING = ds.partitioning(pa.schema([(c, pa.string()) for c in PARTITION_COLUMNS]), flavor="hive")


def encode_name(value: str) -> str:
    """Percent-encode a partition value for a directory name: everything but
    letters, digits and "_.-~" becomes %XX (UTF-8), as DuckDB's and Arrow's
    hive writers do; both decode it back when reading."""
    return urllib.parse.quote(value, safe="")


def decode_name(segment: str) -> str:
    return urllib.parse.unquote(segment)


def check_name(kind: str, value: str) -> str:
    """`value` if it can name an experiment or run (`kind`), else ResultsError."""
    if not isinstance(value, str) or value in ("", ".", "..") or len(encode_name(value)) > 200:
        raise ResultsError(
            f"invalid {kind} name {value!r}: must be a non-empty string other than "
            "'.' and '..', at most 200 characters once percent-encoded"
        )
    return value


def partition_dir(out: Path, table: str, experiment: str, run_id: str) -> Path:
    return out / table / f"experiment={encode_name(experiment)}" / f"run={encode_name(run_id)}"


def staging_dir(out: Path, experiment: str, run_id: str) -> Path:
    return out / STAGING / encode_name(experiment) / encode_name(run_id)


def partitions(out: Path, table: str) -> Iterator[tuple[str, str, Path]]:
    """(experiment, run_id, dir) for each partition directory of a table."""
    base = out / table
    if not base.is_dir():
        return
    for exp_dir in sorted(base.iterdir()):
        if not exp_dir.is_dir() or not exp_dir.name.startswith("experiment="):
            continue
        experiment = decode_name(exp_dir.name.partition("=")[2])
        for run_dir in sorted(exp_dir.iterdir()):
            if run_dir.is_dir() and run_dir.name.startswith("run="):
                yield experiment, decode_name(run_dir.name.partition("=")[2]), run_dir
