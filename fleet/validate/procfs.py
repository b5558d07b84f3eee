"""Parsers of the kernel files a validation step snapshots, into the small
JSON-able dicts a reference stores (per zone, in the kernel's names)."""

import re

ZONE = re.compile(r"Node\s+(\d+),\s+zone\s+(\w+)")

# /proc/vmstat and /proc/meminfo keep hundreds of lines; a reference keeps the
# ones the comparison or a reader of memory fragmentation needs.
VMSTAT_PREFIXES = (
    "nr_free_pages",
    "nr_anon_pages",
    "nr_file_pages",
    "nr_slab",
    "nr_page_table_pages",
    "nr_kernel_stack",
    "nr_shmem",
    "nr_anon_transparent_hugepages",
    "pgalloc_",
    "pgfree",
    "pgmigrate_",
    "compact_",
    "thp_fault",
    "thp_migration",
    "thp_split_page",
    "balloon_",
    "kswapd_",
    "pgscan_",
    "pgsteal_",
    "allocstall_",
    "pageoutrun",
    "drop_",
    "pgrefill",
    "oom_kill",
)
MEMINFO_KEYS = (
    "MemTotal",
    "MemFree",
    "MemAvailable",
    "Buffers",
    "Cached",
    "AnonPages",
    "Shmem",
    "KReclaimable",
    "Slab",
    "SReclaimable",
    "SUnreclaim",
    "KernelStack",
    "PageTables",
    "Percpu",
    "AnonHugePages",
)


def buddyinfo(text: str) -> dict[str, list[int]]:
    """zone -> free blocks per order."""
    out = {}
    for line in text.splitlines():
        m = ZONE.match(line)
        if m:
            out[m.group(2)] = [int(x) for x in line[m.end() :].split()]
    return out


def pagetypeinfo(text: str) -> dict[str, dict[str, int]]:
    """zone -> pageblocks per migratetype ("Number of blocks type" table)."""
    out: dict[str, dict[str, int]] = {}
    names: list[str] = []
    for line in text.splitlines():
        if line.startswith("Number of blocks type"):
            names = line[len("Number of blocks type") :].split()
            continue
        m = ZONE.match(line)
        if names and m and "type" not in line:
            out[m.group(2)] = dict(zip(names, (int(x) for x in line[m.end() :].split())))
    return out


def vmstat(text: str) -> dict[str, int]:
    """The kept counters that are not zero (an absent counter reads as 0)."""
    out = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name.startswith(VMSTAT_PREFIXES) and int(value):
            out[name] = int(value)
    return out


def meminfo(text: str) -> dict[str, int]:
    """The kept keys, in kB as the file gives them."""
    out = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in MEMINFO_KEYS:
            out[key] = int(rest.split()[0])
    return out


def zoneinfo(text: str) -> dict[str, dict[str, int]]:
    """zone -> present, managed, min/low/high watermarks, free pages and the
    per-cpu page lists summed over CPUs (pcp_count, pcp_high, pcp_batch).
    Zones with no managed pages are left out."""
    out: dict[str, dict[str, int]] = {}
    zone = None
    for line in text.splitlines():
        m = ZONE.match(line)
        if m:
            zone = out.setdefault(m.group(2), {"pcp_count": 0, "pcp_high": 0, "pcp_batch": 0})
            continue
        if zone is None:
            continue
        words = line.split()
        if len(words) == 2 and words[0] in ("present", "managed", "min", "low", "high", "nr_free_pages"):
            zone[words[0]] = int(words[1])
        elif len(words) == 2 and words[0] in ("count:", "high:", "batch:"):
            zone["pcp_" + words[0][:-1]] += int(words[1])
        elif len(words) == 3 and words[:2] == ["pages", "free"]:
            zone["nr_free_pages"] = int(words[2])
    return {name: z for name, z in out.items() if z.get("managed", 0) > 0}


PFN_CLASSES = ("r", "f", "u")  # PG_reserved, free (buddy or per-cpu list), in use


def pfnmap(text: str) -> list[list]:
    """`bfhelper pfnmap` output ("START CLASS LENGTH" per run) as [start,
    class, length] runs, checked to be contiguous."""
    runs: list[list] = []
    for line in text.split("\n"):
        if not line.strip():
            continue
        start, cls, length = line.split()
        if cls not in PFN_CLASSES or (runs and runs[-1][0] + runs[-1][2] != int(start)):
            raise ValueError(f"pfnmap: bad run {line!r}")
        runs.append([int(start), cls, int(length)])
    return runs
