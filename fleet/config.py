"""Experiment specs: TOML in, validated typed objects out.

Every problem is reported before any simulation time is spent, as one line
naming the key: an unknown key, a bad unit, an impossible size. `--set
key=value` overrides any key by its dotted path, the value parsed as TOML.
"""

import copy
import re
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from .units import parse_size

DURATION_UNITS = {"s": 1, "min": 60, "h": 3600, "d": 86400}


class SpecError(ValueError):
    """A bad spec; the message is one line naming the key."""


def _help(text: str, default):
    return field(default=default, metadata={"help": text})


@dataclass(frozen=True)
class ExperimentSpec:
    name: str = _help("experiment name: the `experiment` partition of the results", "experiment")
    seed: int = _help("experiment seed; guest generators are seeded from (seed, host, guest)", 1)
    duration_s: int = _help("simulated time of a run", 600)
    tick_s: int = _help("workload and daemon tick", 1)
    policy_interval_s: int = _help("host policy period (oVirt MOM: 10 s)", 10)
    sample_interval_s: int = _help("one samples row per guest per this period", 10)
    guests_per_actor: int = _help("guests packed into one Ray actor", 1)
    regime: str = _help("name of the sweep regime this run belongs to", "")
    check: bool = _help("run the memory invariant checker after every tick (slow)", False)


@dataclass(frozen=True)
class KernelSpec:
    era: str = _help("kernel rules: 3.8 or 6.x", "6.x")
    balloon_compaction: bool = _help("balloon pages movable (the seed, Linux 3.8+)", True)
    thp_defrag: str = _help(
        "/sys/kernel/mm/transparent_hugepage/defrag, system-wide: always, defer, defer+madvise, madvise, never; "
        "every THP fault of every workload obeys it (their regions are madvised)",
        "madvise",
    )
    kcompactd: bool = _help("run kcompactd after kswapd (6.x)", True)
    proactiveness: int = _help("vm.compaction_proactiveness (6.x; the kernel's default 20, 0 = off)", 20)
    free_page_reporting: bool = _help("virtio-balloon free page reporting every 2 s", False)
    swap: bool = _help("anonymous memory may be swapped out", False)
    balloon_rate: int = _help("balloon inflate/deflate rate, bytes/s (HyperAlloc measured ~0.86 GiB/s)", 900 << 20)
    balloon_isolation: str = _help(
        "how compaction isolates balloon pages: seed (any it meets, the 2012 series), merged-3.8 (only after an "
        "LRU page in the same scan, Linux 3.8-3.17), or era (merged-3.8 in era 3.8, seed in 6.x)",
        "era",
    )
    pcp_lists: bool = _help(
        "per-cpu page lists of the era (6.1: up to the low watermark, orders 0-3 and THP; 3.8: order 0, "
        "6 * batch); false frees every page straight to the buddy lists",
        True,
    )


@dataclass(frozen=True)
class HostSpec:
    count: int = _help("number of hosts", 1)
    memory: int = _help("host memory available to guests", 8 << 30)
    khugepaged: bool = _help("host khugepaged re-collapses split 2 MiB regions", False)


@dataclass(frozen=True)
class PolicySpec:
    name: str = _help("host balloon policy: none, static, mom, proxmox", "none")
    params: dict = _help("policy parameters", None)


@dataclass(frozen=True)
class GuestGroup:
    count: int = _help("guests of this group on every host", 1)
    memory: int = _help("guest memory", 1 << 30)
    memory_from_trace: bool = _help(
        "workload trace only: each guest gets the most memory the trace ever provisioned its VM "
        "(rounded up to 2MiB, at least 128MiB) instead of `memory`", False)
    balloon_min: int = _help("memory the guest always keeps (the balloon's floor)", 0)
    shares: int = _help("Proxmox shares (0 = never ballooned)", 1000)
    workload: str = _help("workload profile", "mix")
    workload_params: dict = _help("workload parameters", None)


@dataclass(frozen=True)
class Spec:
    experiment: ExperimentSpec
    kernel: KernelSpec
    hosts: HostSpec
    policy: PolicySpec
    guests: tuple
    sweep: dict

    @property
    def guests_per_host(self) -> int:
        return sum(g.count for g in self.guests)

    def fleet_index(self, host: int, guest: int) -> int:
        """A guest's index across the fleet (which trace VM it follows, which
        entry of a per-guest parameter list it takes)."""
        return host * self.guests_per_host + guest

    def to_dict(self) -> dict:
        d = asdict(self)
        d["guests"] = [asdict(g) for g in self.guests]
        return d

    def flat(self) -> dict:
        """Scalar parameters as dotted keys (for the runs table)."""
        out = {}
        for section in ("experiment", "kernel", "hosts", "policy"):
            for k, v in asdict(getattr(self, section)).items():
                if isinstance(v, dict):
                    for pk, pv in (v or {}).items():
                        out[f"{section}.{k}.{pk}"] = str(pv)
                else:
                    out[f"{section}.{k}"] = v
        for i, group in enumerate(self.guests):
            for k, v in asdict(group).items():
                if isinstance(v, dict):
                    for pk, pv in (v or {}).items():
                        out[f"guests[{i}].{k}.{pk}"] = str(pv)
                else:
                    out[f"guests[{i}].{k}"] = v
        return out


_SIZE_KEYS = {"memory", "balloon_min", "balloon_rate"}
_DURATION_KEYS = {"duration_s", "tick_s", "policy_interval_s", "sample_interval_s"}


def parse_duration(value, key: str) -> int:
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


def _build(cls, table: dict, path: str):
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
    from .guest import check_workload, guest_memory, guest_params
    from .memory.constants import BALLOON_ISOLATION, ERAS
    from .memory.huge_memory import DEFRAG_MODES

    e, k, h = spec.experiment, spec.kernel, spec.hosts
    check_seed(e.seed, "experiment.seed")
    _check_policy(spec.policy)
    if k.era not in ERAS:
        raise SpecError(f"kernel.era: {k.era!r} is not one of {', '.join(ERAS)}")
    if k.thp_defrag not in DEFRAG_MODES:
        raise SpecError(f"kernel.thp_defrag: {k.thp_defrag!r} is not one of {', '.join(DEFRAG_MODES)}")
    if not 0 <= k.proactiveness <= 100:
        raise SpecError("kernel.proactiveness: must be within 0..100")
    if k.balloon_isolation != "era" and k.balloon_isolation not in BALLOON_ISOLATION:
        raise SpecError(f"kernel.balloon_isolation: {k.balloon_isolation!r} is not one of era, {', '.join(BALLOON_ISOLATION)}")
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
    if not spec.guests:
        raise SpecError("guests: at least one [[guests]] group is needed")
    offset = 0
    for i, g in enumerate(spec.guests):
        where = f"guests[{i}]"
        if g.count <= 0:
            raise SpecError(f"{where}.count: must be positive")
        if g.memory < (128 << 20) or g.memory % (2 << 20):
            raise SpecError(f"{where}.memory: must be at least 128MiB and a multiple of 2MiB")
        try:
            check_workload(g.workload, g.workload_params)
            indices = [spec.fleet_index(host, offset + j) for host in range(h.count) for j in range(g.count)]
            sizes = {guest_memory(g, guest_params(g.workload_params, n)) for n in indices}
        except ValueError as e:
            raise SpecError(f"{where}.workload: {e}") from None
        if max(sizes) > h.memory:
            raise SpecError(f"{where}.memory: a guest of {max(sizes) >> 20}MiB is larger than its host ({h.memory >> 20}MiB)")
        if g.balloon_min > min(sizes):
            raise SpecError(f"{where}.balloon_min: larger than the guest's memory")
        offset += g.count
    if spec.guests_per_host > 255:
        raise SpecError("guests: at most 255 guests per host")


def _check_policy(p: "PolicySpec") -> None:
    """Build the policy once, as the host actor will, so that a bad name,
    parameter or value is refused before Ray starts."""
    from policies import make_policy

    try:
        make_policy(p.name, **(p.params or {}))
    except (ValueError, TypeError) as e:
        raise SpecError(f"policy: {e}") from None


def apply_override(raw: dict, assignment: str) -> None:
    key, sep, text = assignment.partition("=")
    if not sep or not key.strip():
        raise SpecError(f"--set {assignment!r}: expected key=value")
    try:
        value = tomllib.loads(f"v = {text.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = text.strip()  # a bare word: take it as a string
    set_key(raw, key.strip(), value)


def set_key(raw: dict, key: str, value) -> None:
    """Set the dotted `key` (`guests[0].count` indexes a list) of a raw spec."""
    parts = key.split(".")
    node = raw
    for i, part in enumerate(parts[:-1]):
        m = re.fullmatch(r"(\w+)\[(\d+)\]", part)
        if m:
            items = node.get(m.group(1))
            idx = int(m.group(2))
            if not isinstance(items, list) or idx >= len(items):
                raise SpecError(f"--set {key}: there is no {part}")
            node = items[idx]
        else:
            node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise SpecError(f"--set {key}: {'.'.join(parts[: i + 1])} is not a table")
    node[parts[-1]] = value


def build_spec(raw: dict) -> Spec:
    """A validated Spec from a parsed TOML document."""
    allowed = {"experiment", "kernel", "hosts", "policy", "guests", "sweep"}
    for key in raw:
        if key not in allowed:
            raise SpecError(f"{key}: unknown table; known tables are {', '.join(sorted(allowed))}")
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
    return spec


def load_raw(path: str | Path) -> dict:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise SpecError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise SpecError(f"{path}: is a folder, not a spec file") from None
    except UnicodeDecodeError:
        raise SpecError(f"{path}: not a UTF-8 text file") from None
    except tomllib.TOMLDecodeError as e:
        raise SpecError(f"{path}: not valid TOML: {e}") from None


SEED_MAX = (1 << 63) - 1  # seeds are stored as int64 (manifest, Parquet)


def check_seed(value, where: str) -> int:
    """The one seed rule of specs, sweeps and every command: a whole number
    within 0..2**63-1. Returns it; raises SpecError naming `where`."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= SEED_MAX:
        raise SpecError(f"{where}: a seed must be a whole number within 0..{SEED_MAX}, got {value!r}")
    return value


def resolve_raw(path: str | Path, overrides=(), seed: int | None = None) -> dict:
    """Read a spec file and apply `--set` overrides and a seed to it."""
    raw = load_raw(path)
    for assignment in overrides:
        apply_override(raw, assignment)
    if seed is not None:
        raw.setdefault("experiment", {})["seed"] = seed
    return raw


def load_spec(path: str | Path, overrides=(), seed: int | None = None) -> Spec:
    """Read, override and validate a spec file."""
    return build_spec(resolve_raw(path, overrides, seed))


def sweep_points(raw: dict) -> list[tuple[str, dict]]:
    """The sweep grid of a raw spec: (run id, raw spec) for every point x seed.

    `[sweep]` maps dotted keys to lists of values; `seeds` lists seeds; an
    optional `[sweep.regimes.NAME]` table per regime holds overrides applied
    together (the regime's name is recorded as experiment.regime). Run ids
    name the point's values, so a re-run finds the runs already done.
    """
    import itertools

    sweep = copy.deepcopy(raw.get("sweep", {}))
    seeds = sweep.pop("seeds", [raw.get("experiment", {}).get("seed", 1)])
    regimes = sweep.pop("regimes", {"": {}})
    if not isinstance(regimes, dict) or not all(isinstance(r, dict) for r in regimes.values()):
        raise SpecError("sweep.regimes: expected one table of overrides per regime")
    if not isinstance(seeds, list) or not seeds:
        raise SpecError("sweep.seeds: expected a non-empty list of seeds")
    for seed in seeds:
        check_seed(seed, "sweep.seeds")
    keys = sorted(sweep)
    for key in keys:
        if not isinstance(sweep[key], list) or not sweep[key]:
            raise SpecError(f"sweep.{key}: expected a non-empty list of values")
    points = []
    for regime, overrides in regimes.items():
        for values in itertools.product(*(sweep[k] for k in keys)):
            for seed in seeds:
                point = copy.deepcopy(raw)
                point.pop("sweep", None)
                name = [f"regime={regime}"] if regime else []
                for key, value in sorted(overrides.items()):
                    set_key(point, key, copy.deepcopy(value))
                for key, value in zip(keys, values):
                    set_key(point, key, copy.deepcopy(value))
                    name.append(f"{key.split('.')[-1]}={value}")
                experiment = point.setdefault("experiment", {})
                experiment["seed"] = seed
                if regime:
                    experiment["regime"] = regime
                name.append(f"seed={seed}")
                points.append(("_".join(name).replace("/", "-").replace(" ", ""), point))
    return points

