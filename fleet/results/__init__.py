"""Results: Parquet datasets written atomically and streamed.

One job per module:

- ``layout``: the folder layout, names and partition directories (the layout
  diagram is there);
- ``fs``: fsync, publishing a directory by rename, the flocks;
- ``manifest``: reading and updating OUT/manifest.json;
- ``writer``: :class:`RunWriter` and the commit protocol (its contract);
- ``reader``: committed runs, the tables, :func:`recover`;
- ``provenance``: the code fingerprint and package versions of a run;
- ``errors``: :class:`ResultsError` and its one-line texts.

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

from .errors import ResultsError, one_line
from .fs import lock_out_dir
from .layout import PARTITION_COLUMNS
from .manifest import MANIFEST_FORMAT
from .provenance import code_fingerprint, package_versions
from .reader import (
    committed_files,
    committed_runs,
    raise_for_unreadable,
    read_table,
    recover,
    runs_from_other_code,
    samples_hash,
    uncommitted_runs,
)
from .writer import RunWriter, flatten

__all__ = [
    "MANIFEST_FORMAT",
    "PARTITION_COLUMNS",
    "ResultsError",
    "RunWriter",
    "code_fingerprint",
    "committed_files",
    "committed_runs",
    "flatten",
    "lock_out_dir",
    "one_line",
    "package_versions",
    "raise_for_unreadable",
    "read_table",
    "recover",
    "runs_from_other_code",
    "samples_hash",
    "uncommitted_runs",
]
