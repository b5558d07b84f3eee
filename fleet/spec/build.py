"""A parsed TOML document to a checked `Spec`: every table's keys and types,
then the rules across fields, the policy and every guest's workload, each
problem reported as one line naming the key before any simulation starts.
"""

from __future__ import annotations

from dataclasses import fields, replace
from typing import Any

from ..memory.constants import BALLOON_ISOLATION, DEFRAG_MODES, ERAS, HPAGE_PMD_ORDER
from ..units import parse_size
from .guests import MAX_GUESTS_PER_HOST, check_guest_bytes, check_workload, guest_memory, guest_params
from .schema import (
    ExperimentSpec,
    GuestGroup,
    HostSpec,
    KernelSpec,
    PolicySpec,
    Spec,
    SpecError,
)

DURATION_UNITS = {"s": 1, "min": 60, "h": 3600, "d": 86400}
MAX_PTES_NONE = (1 << HPAGE_PMD_ORDER) - 1  # khugepaged's max_ptes_none_store refuses more than HPAGE_PMD_NR - 1
SEED_MAX = (1 << 63) - 1  # seeds are stored as int64 (manifest, Parquet)
TABLES = ("experiment", "kernel", "hosts", "policy", "guests", "sweep")
_SIZE_KEYS = {"memory", "balloon_min", "balloon_rate", "swap_size", "swap_bandwidth"}
_DURATION_KEYS = {"duration_s", "tick_s", "policy_interval_s", "sample_interval_s", "khugepaged_scan_sleep_s"}


def check_seed(value: Any, where: str) -> int:
    """The one seed rule of specs, sweeps and every command: a whole number
    within 0..2**63-1. Returns it; raises SpecError naming `where`."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= SEED_MAX:
        raise SpecError(f"{where}: a seed must be a whole number within 0..{SEED_MAX}, got {value!r}")
    return value


def parse_duration(value: Any, key: str) -> int:
    if isinstance(value, bool):
        raise SpecError(f"{key}: expected a duration, got {value!r}")
    if isinstance(value, int):
        return value
    text = str(value).strip()
    for unit in sorted(DURATION_UNITS, key=len, reverse=True):
        if text.endswith(unit):
            try:
                return int(float(text[: -len(unit)]) * DURATION_UNITS[unit])
            except ValueError:
                break
    raise SpecError(f"{key}: bad duration {value!r}: use seconds or a number with s, min, h or d")


def _build(cls: type, table: Any, path: str) -> Any:
    if not isinstance(table, dict):
        raise SpecError(f"{path}: expected a table")
    known = {f.name: f for f in fields(cls)}
    kwargs = {}
    for key, value in table.items():
        where = f"{path}.{key}"
        if key not in known:
            raise SpecError(f"{where}: unknown key; known keys are {', '.join(known)}")
        f = known[key]
        if key in _SIZE_KEYS:
            try:
                value = value if isinstance(value, int) and not isinstance(value, bool) else parse_size(value)
            except ValueError as e:
                raise SpecError(f"{where}: {e}") from None
        elif key in _DURATION_KEYS:
            value = parse_duration(value, where)
        elif f.type is bool and not isinstance(value, bool):
            raise SpecError(f"{where}: expected true or false, got {value!r}")
        elif f.type is int and (not isinstance(value, int) or isinstance(value, bool)):
            raise SpecError(f"{where}: expected an integer, got {value!r}")
        elif f.type is str and isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)  # era = 3.8 written without quotes
        elif f.type is str and not isinstance(value, str):
            raise SpecError(f"{where}: expected a string, got {value!r}")
        elif f.type is dict and not isinstance(value, dict):
            raise SpecError(f"{where}: expected a table")
        if isinstance(value, int) and not isinstance(value, bool) and value < 0:
            raise SpecError(f"{where}: must not be negative")
        kwargs[key] = value
    obj = cls(**kwargs)
    for f in fields(cls):
        if f.type is dict and getattr(obj, f.name) is None:
            object.__setattr__(obj, f.name, {})
    return obj


def _validate(spec: Spec) -> None:
    from policies import virtio_mem_block

    e, k, h = spec.experiment, spec.kernel, spec.hosts
    check_seed(e.seed, "experiment.seed")
    _check_policy(spec.policy)
    block = virtio_mem_block(spec.policy.name, spec.policy.params)
    if k.era not in ERAS:
        raise SpecError(f"kernel.era: {k.era!r} is not one of {', '.join(ERAS)}")
    if k.thp_defrag not in DEFRAG_MODES:
        raise SpecError(f"kernel.thp_defrag: {k.thp_defrag!r} is not one of {', '.join(DEFRAG_MODES)}")
    if not 0 <= k.proactiveness <= 100:
        raise SpecError("kernel.proactiveness: must be within 0..100")
    if k.balloon_isolation != "era" and k.balloon_isolation not in BALLOON_ISOLATION:
        raise SpecError(
            f"kernel.balloon_isolation: {k.balloon_isolation!r} is not one of era, {', '.join(BALLOON_ISOLATION)}"
        )
    for key in ("tick_s", "policy_interval_s", "sample_interval_s", "duration_s", "guests_per_actor"):
        if getattr(e, key) <= 0:
            raise SpecError(f"experiment.{key}: must be positive")
    for key in ("policy_interval_s", "sample_interval_s"):
        if getattr(e, key) % e.tick_s:
            raise SpecError(f"experiment.{key}: must be a multiple of experiment.tick_s")
    if e.sample_interval_s % e.policy_interval_s and e.policy_interval_s % e.sample_interval_s:
        raise SpecError("experiment.sample_interval_s: must divide or be a multiple of policy_interval_s")
    if h.count <= 0:
        raise SpecError("hosts.count: must be positive")
    for key in ("khugepaged_pages_to_scan", "khugepaged_scan_sleep_s", "swap_bandwidth"):
        if getattr(h, key) <= 0:
            raise SpecError(f"hosts.{key}: must be positive")
    if not 0 <= h.khugepaged_max_ptes_none <= MAX_PTES_NONE:
        raise SpecError(f"hosts.khugepaged_max_ptes_none: must be within 0..{MAX_PTES_NONE}")
    if not spec.guests:
        raise SpecError("guests: at least one [[guests]] group is needed")
    offset = 0
    for i, g in enumerate(spec.guests):
        where = f"guests[{i}]"
        if g.count <= 0:
            raise SpecError(f"{where}.count: must be positive")
        why = check_guest_bytes(g.memory)
        if why:
            raise SpecError(f"{where}.memory: {why}")
        indices = [spec.fleet_index(host, offset + j) for host in range(h.count) for j in range(g.count)]
        try:
            check_workload(g.workload, g.workload_params, indices)
            sizes = {guest_memory(g, guest_params(g.workload_params, n)) for n in indices}
        except ValueError as e:
            raise SpecError(f"{where}.workload: {e}") from None
        if max(sizes) > h.memory:
            raise SpecError(
                f"{where}.memory: a guest of {max(sizes) >> 20}MiB is larger than its host ({h.memory >> 20}MiB)"
            )
        if g.balloon_min > min(sizes):
            raise SpecError(f"{where}.balloon_min: larger than the guest's memory")
        if block and any(size % block for size in sizes):
            raise SpecError(
                f"{where}.memory: policy {spec.policy.name} plugs {block >> 20}MiB blocks: "
                "a guest must be a whole number of them"
            )
        offset += g.count
    if spec.guests_per_host > MAX_GUESTS_PER_HOST:
        raise SpecError(f"guests: at most {MAX_GUESTS_PER_HOST} guests per host")


def _check_policy(p: PolicySpec) -> None:
    """Build the policy once, as the host actor will, so that a bad name,
    parameter or value is refused before Ray starts."""
    from policies import make_policy

    try:
        make_policy(p.name, **(p.params or {}))
    except (ValueError, TypeError) as e:
        raise SpecError(f"policy: {e}") from None


def _imply_reporting(spec: Spec, raw: dict[str, Any]) -> Spec:
    """A free-page-reporting policy (fpr) turns the guests' reporting on:
    kernel.free_page_reporting is implied true, and an explicit false is
    refused."""
    from policies import POLICIES

    if POLICIES.implementation_of(spec.policy.name).device != "free-page-reporting":
        return spec
    if raw.get("kernel", {}).get("free_page_reporting") is False:
        raise SpecError(
            f"kernel.free_page_reporting: policy {spec.policy.name} is free page reporting; leave it out or set it true"
        )
    return replace(spec, kernel=replace(spec.kernel, free_page_reporting=True))


def build_spec(raw: dict[str, Any]) -> Spec:
    """A validated Spec from a parsed TOML document."""
    for key in raw:
        if key not in TABLES:
            raise SpecError(f"{key}: unknown table; known tables are {', '.join(sorted(TABLES))}")
    guests_raw = raw.get("guests", [])
    if isinstance(guests_raw, dict):
        guests_raw = [guests_raw]
    if not isinstance(guests_raw, list):
        raise SpecError("guests: expected [[guests]] tables")
    spec = Spec(
        experiment=_build(ExperimentSpec, raw.get("experiment", {}), "experiment"),
        kernel=_build(KernelSpec, raw.get("kernel", {}), "kernel"),
        hosts=_build(HostSpec, raw.get("hosts", {}), "hosts"),
        policy=_build(PolicySpec, raw.get("policy", {}), "policy"),
        guests=tuple(_build(GuestGroup, g, f"guests[{i}]") for i, g in enumerate(guests_raw)),
        sweep=raw.get("sweep", {}),
    )
    if not isinstance(spec.sweep, dict):
        raise SpecError("sweep: expected a table")
    _validate(spec)
    return _imply_reporting(spec, raw)
