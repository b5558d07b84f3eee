"""Guest groups expanded to guests: each guest's workload parameters and
memory size, and the size rules every entry point shares.

Importing this reads no trace: only a group with `memory_from_trace` or a
trace workload loads the shipped Bitbrains tables (and pyarrow), when asked.
"""

from __future__ import annotations

from typing import Any

from ..memory.constants import PAGE_SIZE, PAGEBLOCK_NR_PAGES
from .schema import GuestGroup, Spec
from .workloads import WORKLOADS, TraceParams

MIN_GUEST_BYTES = 128 << 20  # the smallest guest the model boots (its watermarks need room)
MAX_GUEST_BYTES = 1 << 40
GUEST_SIZE_STEP = PAGEBLOCK_NR_PAGES * PAGE_SIZE  # guests are whole 2 MiB pageblocks
MAX_GUESTS_PER_HOST = 255


def check_guest_bytes(nbytes: int) -> str | None:
    """Why `nbytes` cannot be a guest's memory, or None if it can."""
    if not MIN_GUEST_BYTES <= nbytes <= MAX_GUEST_BYTES or nbytes % GUEST_SIZE_STEP:
        lo, hi = MIN_GUEST_BYTES >> 20, MAX_GUEST_BYTES >> 40
        return f"must be within {lo}MiB..{hi}TiB and a whole number of 2MiB pageblocks"
    return None


def workload_parts(name: str, params: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """`a+b` runs workloads a and b side by side; their parameters are then
    the tables params[a] and params[b]."""
    if "+" not in name:
        return [(name, dict(params))]
    return [(part, dict(params.get(part, {}))) for part in name.split("+")]


def guest_params(params: dict[str, Any], index: int) -> dict[str, Any]:
    """A group's workload parameters for its guest number `index` in the
    fleet: `per_guest = {key = [v0, v1, ...]}` gives guest i the value
    v[i mod n] (e.g. a different trace VM per guest)."""
    per = params.get("per_guest")
    if not per:
        return dict(params)
    if not isinstance(per, dict) or not all(isinstance(v, list) and v for v in per.values()):
        raise ValueError("per_guest: expected a table of non-empty lists")
    out = {k: v for k, v in params.items() if k != "per_guest"}
    for key, values in per.items():
        out[key] = values[index % len(values)]
    return out


def check_workload(name: str, params: dict[str, Any], indices: list[int]) -> None:
    """Validate a guest group's workload for the guests of fleet `indices`
    and for every entry of its per_guest lists (raises ValueError naming the
    key)."""
    per = params.get("per_guest") or {}
    longest = max([len(v) for v in per.values() if isinstance(v, list)] or [1])
    for i in sorted(set(indices) | set(range(longest))):
        for part, part_params in workload_parts(name, guest_params(params, i)):
            values = WORKLOADS.make_params(part, part_params)
            if isinstance(values, TraceParams):  # the "trace" part's parameters
                from ..bitbrains import check_vm_in_slice

                check_vm_in_slice(values.vm, values.slice)


def guest_memory(group: GuestGroup, params: dict[str, Any]) -> int:
    """A guest's memory in bytes: the group's, or with `memory_from_trace`
    the most the Bitbrains trace provisioned the guest's VM in July 2013,
    rounded up to a 2 MiB pageblock and at least MIN_GUEST_BYTES."""
    if not group.memory_from_trace:
        return group.memory
    if group.workload != "trace":
        raise ValueError('memory_from_trace needs workload = "trace"')
    from ..bitbrains import provisioned_bytes

    nbytes = -(-provisioned_bytes(int(params.get("vm", 1))) // GUEST_SIZE_STEP) * GUEST_SIZE_STEP
    return max(nbytes, MIN_GUEST_BYTES)


def host_guest_bytes(spec: Spec, host: int) -> list[int]:
    """The memory of each guest of `host`, by guest id (the groups in order,
    each group's guests in order): how the host lays its guests out, e.g. for
    khugepaged's scan of its QEMU processes one after another."""
    out: list[int] = []
    for group in spec.guests:
        for _ in range(group.count):
            index = spec.fleet_index(host, len(out))
            out.append(guest_memory(group, guest_params(group.workload_params, index)))
    return out
