"""The scenario language run in a real guest (the simulator's side is
fleet/scenario.py). Each verb, as the guest does it:

    fill KIND=SIZE,...   one bfhelper process per pair faults SIZE: anon as
                         MADV_NOHUGEPAGE memory written page by page in address
                         order, file by reading /data from the virtio ext2 disk
                         into the page cache; several pairs run at once
    punch KIND FRACTION  every process of KIND frees that fraction of its
                         present pages, picked at random (MADV_DONTNEED, or
                         POSIX_FADV_DONTNEED for file)
    punch KIND every N   every process of KIND frees every Nth present page in
                         address order
    free KIND            the processes of KIND unmap their memory (file: drop
                         their cache), answer, and exit; thp frees the THP
                         processes
    balloon SIZE         QMP `balloon` to SIZE; waits until the balloon gets
                         there or stops moving for 3 s, then pins the target
                         to what it reached
    compact              echo 1 > /proc/sys/vm/compact_memory
    thp SIZE             a process faults SIZE of 2 MiB aligned MADV_HUGEPAGE
                         memory, every 4 KiB touched, and keeps it mapped
    wait SECONDS         sleep

Only anon, file and thp memory exist in the real guest: slab and kernel kinds
are refused when a scenario is loaded.
"""

import time

from ..memory import constants as C
from ..scenario import Step
from .qemu import Guest

REAL_KINDS = ("anon", "file", "thp")
PROC_FILES = ("buddyinfo", "pagetypeinfo", "vmstat", "meminfo", "zoneinfo")
DRAIN_COMMANDS = 300  # short-lived processes whose frees spill the per-cpu lists
DRAIN_HIGH_FRACTION = 100000  # percpu_pagelist_high_fraction while they run: pcp->high at its floor
DRAIN_MIN_FREE_KBYTES = 1024  # min_free_kbytes for a second round when the zone is under low


class RealRunner:
    """Runs steps in one booted guest. `seed` makes random punches of a
    repetition reproducible."""

    def __init__(self, guest: Guest, seed: int):
        self.guest = guest
        self.seed = seed
        self.holders: dict[str, list[str]] = {k: [] for k in REAL_KINDS}
        self.file_offset = 0  # pages of /data read so far
        self.serial = 0

    def run(self, step: Step) -> str:
        return getattr(self, "_" + step.verb)(*step.args)

    def _hold(self, kind: str, pages: int) -> str:
        self.serial += 1
        name = f"{kind}{self.serial}"
        self.holders[kind].append(name)
        extra = ""
        if kind == "file":
            extra = f" {self.file_offset}"
            self.file_offset += pages
        return f"bfhelper hold {name} {kind} {pages}{extra} >/dev/null"

    def _fill(self, *pairs) -> str:
        jobs = [self._hold(kind, pages) for kind, pages in pairs]
        self.guest.sh(" & ".join(jobs) + " & wait" if len(jobs) > 1 else jobs[0])
        return "filled " + ", ".join(f"{k}={p}" for k, p in pairs) + " pages"

    def _punch(self, kind: str, *how) -> str:
        self.serial += 1
        if how[0] == "every":
            args = f"every {how[1]}"
        else:
            args = f"random {how[0]} {self.seed * 1000 + self.serial}"
        freed = sum(int(self.guest.sh(f"bfhelper ctl {h} punch {args}")) for h in self.holders[kind])
        return f"punched {freed} pages of {kind}"

    def _free(self, kind: str) -> str:
        freed = sum(int(self.guest.sh(f"bfhelper ctl {h} exit")) for h in self.holders[kind])
        self.holders[kind] = []
        return f"freed {freed} pages of {kind}"

    def _balloon(self, target: int) -> str:
        got = self.guest.set_balloon(target)
        return f"balloon at {got} pages (target {target})"

    def _compact(self) -> str:
        self.guest.sh("echo 1 > /proc/sys/vm/compact_memory")
        return "compacted"

    def _thp(self, pages: int) -> str:
        self.guest.sh(self._hold("thp", pages))
        return f"thp: {pages >> C.HPAGE_PMD_ORDER} faults"

    def _wait(self, seconds: int) -> str:
        self.guest.sh(f"sleep {seconds}")
        return f"waited {seconds} s"


def read_files(guest: Guest, names: tuple[str, ...]) -> dict[str, str]:
    """The texts of /proc files, read in one shell line."""
    out = guest.sh("; ".join(f'echo "@@F {n}"; cat /proc/{n}' for n in names))
    files: dict[str, list[str]] = {}
    current = None
    for line in out.splitlines():
        if line.startswith("@@F "):
            current = files.setdefault(line[4:], [])
        elif current is not None:
            current.append(line)
    return {n: "\n".join(v) for n, v in files.items()}


def drain_pcp(guest: Guest, zone: str) -> bool:
    """Spill the per-cpu page lists back to the buddy lists: 6.1 has no sysctl
    that drains them, so lower `high` to its floor (percpu_pagelist_high_fraction
    = DRAIN_HIGH_FRACTION), let short-lived processes free pages through the
    lists, and restore the old value (see validation-notes.md).

    The spill needs frees into `zone`'s lists. When the zone's buddy free
    pages are under its low watermark (the per-cpu pages do not count),
    6.1's get_page_from_freelist passes the zone over and the processes take
    their order-0 pages from ZONE_DMA, so they free to DMA's lists and the
    zone's stay as they were. Then a second round runs with min_free_kbytes
    at DRAIN_MIN_FREE_KBYTES and puts it back; setup_per_zone_wmarks
    recomputes the same watermarks, clears watermark_boost, and (with the
    fraction still set) keeps `high` at its floor. Returns whether that
    second round ran."""
    f = "/proc/sys/vm/percpu_pagelist_high_fraction"
    m = "/proc/sys/vm/min_free_kbytes"
    spill = f"i=0; while [ $i -lt {DRAIN_COMMANDS} ]; do bfhelper >/dev/null 2>&1; i=$((i+1)); done"
    out = guest.sh(
        f"o=$(cat {f}); echo {DRAIN_HIGH_FRACTION} > {f}; {spill}; "
        f"if {pcp_above_high(zone)}; then k=$(cat {m}); echo {DRAIN_MIN_FREE_KBYTES} > {m}; {spill}; "
        f"echo $k > {m}; echo lowered; fi; sleep 1; echo $o > {f}"
    )
    return out.strip().endswith("lowered")


def pcp_above_high(zone: str, path: str = "/proc/zoneinfo") -> str:
    """A shell test (awk) that succeeds when `zone`'s per-cpu lists hold more
    pages than their `high`, both summed over its pagesets in `path`."""
    return (
        f'awk \'/^Node/ {{z = $4 == "{zone}"}} z && $1 == "count:" {{c += $2}} '
        f'z && $1 == "high:" {{h += $2}} END {{exit !(c > h)}}\' {path}'
    )


def boot(guest: Guest, thp_defrag: str) -> float:
    """Wait for the guest's shell and set the THP defrag mode; returns the boot time."""
    took = guest.wait_boot()
    guest.sh(f"echo {thp_defrag} > /sys/kernel/mm/transparent_hugepage/defrag")
    return took


def timed(fn, *args):
    start = time.monotonic()
    out = fn(*args)
    return out, time.monotonic() - start
