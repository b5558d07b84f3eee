"""The typed nested spec: one frozen dataclass per TOML table, each field with
its default and a one-line help. `fleet.spec.build` turns a parsed document
into a checked `Spec`; nothing in here checks values.
"""

# No `from __future__ import annotations`: build.py reads the field types at run time.
from dataclasses import asdict, dataclass, field
from typing import Any


class SpecError(ValueError):
    """A bad spec; the message is one line naming the key."""


def _help(text: str, default: Any) -> Any:
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
    khugepaged: bool = _help(
        "host khugepaged collapses split 2 MiB regions of guest memory back into huge pages (real hosts run it "
        "whenever THP is enabled; off here unless asked for)",
        False,
    )
    khugepaged_pages_to_scan: int = _help(
        "khugepaged/pages_to_scan: one pass scans this many PTEs' worth (512 per 2 MiB region) of the host's "
        "guests, one after another (the kernel's default 4096)",
        4096,
    )
    khugepaged_scan_sleep_s: int = _help(
        "khugepaged/scan_sleep_millisecs in seconds: one pass every this period (the kernel's default 10 s)", 10
    )
    khugepaged_max_ptes_none: int = _help(
        "khugepaged/max_ptes_none (0..511): a split region collapses when at most this many of its PTEs are none "
        "(the kernel's default 511: one populated page suffices, and the collapse populates the rest)",
        511,
    )
    swap_size: int = _help(
        "host swap device (0 = none: the OOM killer acts as soon as reclaim falls short); the default 4 GiB is "
        "the smallest swap Proxmox VE's installer makes (RAM size, within 4..8 GiB) and RHEL's advice for hosts "
        "of 8-64 GiB",
        4 << 30,
    )
    swap_bandwidth: int = _help(
        "host swap device bandwidth, bytes/s, shared by swap-out and swap-in (the default ~500 MiB/s: a SATA SSD; "
        "swap-out beyond it in an interval cannot keep up and the host runs out)",
        500 << 20,
    )


@dataclass(frozen=True)
class PolicySpec:
    name: str = _help(
        "host memory policy (policies.POLICIES: none, static, mom, proxmox, esx, senpai, fpr, virtio-mem)", "none"
    )
    params: dict = _help("policy parameters", None)


@dataclass(frozen=True)
class GuestGroup:
    count: int = _help("guests of this group on every host", 1)
    memory: int = _help("guest memory", 1 << 30)
    memory_from_trace: bool = _help(
        "workload trace only: each guest gets the most memory the trace ever provisioned its VM "
        "(rounded up to 2MiB, at least 128MiB) instead of `memory`",
        False,
    )
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
    guests: tuple[GuestGroup, ...]
    sweep: dict[str, Any]

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
        """Scalar parameters as dotted keys (for the runs table); a table's
        entries (policy or workload parameters) as strings under its key."""
        out: dict[str, Any] = {}
        tables = [(section, getattr(self, section)) for section in ("experiment", "kernel", "hosts", "policy")]
        tables += [(f"guests[{i}]", group) for i, group in enumerate(self.guests)]
        for prefix, table in tables:
            for k, v in asdict(table).items():
                if isinstance(v, dict):
                    out.update({f"{prefix}.{k}.{pk}": str(pv) for pk, pv in v.items()})
                else:
                    out[f"{prefix}.{k}"] = v
        return out
