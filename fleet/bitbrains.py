"""The shipped Bitbrains slices (GWA-T-12 "Rnd", Shen, Beek, Iosup, CCGrid
2015; fleet/workload/data/README.md has the attribution and how the slices
were cut): per-VM memory samples and the month's provisioned maxima.

The trace workload (fleet/workload/trace.py) replays them; the spec reads
them to size `memory_from_trace` guests and to check a VM is in its slice.
pyarrow is imported only when a table is first read.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

DATA = Path(__file__).parent / "workload" / "data"
SLICE_START_S = 1372629600  # 2013-07-01 00:00 CEST, Unix seconds
# name -> (file, trace time origin: Unix seconds, or None for each VM's first sample)
SLICES = {
    "2013-07-01": ("bitbrains-rnd-2013-07-01.parquet", SLICE_START_S),
    "first24h": ("bitbrains-rnd-2013-07-first24h.parquet", None),
}
VMS_FILE = DATA / "bitbrains-rnd-2013-07-vms.parquet"
SLICE_LENGTH_S = 86400


@functools.lru_cache(maxsize=2)
def load_slice(name: str = "2013-07-01") -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """A shipped slice: vm -> (trace seconds since the slice's origin,
    provisioned KiB, used KiB), sorted by time. Read once per process."""
    import pyarrow.parquet as pq

    file, origin = SLICES[name]
    table = pq.read_table(DATA / file, columns=["vm", "timestamp_s", "mem_provisioned_kb", "mem_usage_kb"])
    vm = table["vm"].to_numpy()
    ts = table["timestamp_s"].to_numpy()
    prov = table["mem_provisioned_kb"].to_numpy()
    used = table["mem_usage_kb"].to_numpy()
    order = np.lexsort((ts, vm))
    vm, ts, prov, used = vm[order], ts[order], prov[order], used[order]
    bounds = np.flatnonzero(np.diff(vm)) + 1
    out = {}
    for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, len(vm)]):
        start = ts[lo] if origin is None else origin
        out[int(vm[lo])] = (ts[lo:hi] - start, prov[lo:hi], used[lo:hi])
    return out


def trace_vms(name: str = "2013-07-01") -> list[int]:
    """VM numbers with samples in a shipped slice."""
    return sorted(load_slice(name))


@functools.lru_cache(maxsize=1)
def _provisioned_max_kb() -> dict[int, int]:
    import pyarrow.parquet as pq

    t = pq.read_table(VMS_FILE)
    return dict(zip(t["vm"].to_pylist(), t["mem_provisioned_max_kb"].to_pylist()))


def provisioned_bytes(vm: int) -> int:
    """The most memory the trace ever provisioned VM `vm` in July 2013."""
    return _provisioned_max_kb()[vm] * 1024


def check_vm_in_slice(vm: int, slice_name: str) -> None:
    """Raise ValueError naming `vm` unless it has samples in the slice."""
    if vm not in load_slice(slice_name):
        raise ValueError(
            f"parameter 'vm': VM {vm} has no samples in the slice {slice_name}; "
            f'it starts later in the month (use slice = "first24h") (got {vm!r})'
        )
