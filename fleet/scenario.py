"""Scenarios of `fleet inspect --steps`: a `;`-separated list of steps run in
order against one guest's memory.

    fill KIND=SIZE[,KIND=SIZE...]   allocate, interleaved in small random chunks
    punch KIND FRACTION             free that fraction of KIND's pages at random
    free KIND                       free all of KIND (a process exiting)
    balloon SIZE                    set the balloon target and run to it
    compact                         echo 1 > /proc/sys/vm/compact_memory
    thp SIZE                        fault SIZE of MADV_HUGEPAGE anon memory
    wait SECONDS                    let kswapd and kcompactd run (and, if on,
                                    free page reporting every 2 s)

KIND is anon, file, slab, slab_reclaimable or kernel. The whole scenario is
parsed and checked before the first step runs.
"""

from dataclasses import dataclass

from .memory import constants as C
from .memory.page_reporting import PAGE_REPORTING_DELAY
from .memory.rng import randbelow
from .memory.zone import Zone
from .units import parse_size
from .workload.base import CHUNK_PAGES

FILL_KINDS = ("anon", "file", "slab", "slab_reclaimable", "kernel")


class ScenarioError(ValueError):
    """A step that cannot be parsed; the message names the step."""


@dataclass(frozen=True)
class Step:
    verb: str
    args: tuple

    def __str__(self) -> str:
        return " ".join([self.verb, *map(str, self.args)])


def _pages(text: str, step: str) -> int:
    try:
        return parse_size(text) // C.PAGE_SIZE
    except ValueError as e:
        raise ScenarioError(f"step '{step}': {e}") from None


def _kind(text: str, step: str) -> str:
    if text not in FILL_KINDS:
        raise ScenarioError(f"step '{step}': unknown kind {text!r}; use one of {', '.join(FILL_KINDS)}")
    return text


def parse_steps(text: str) -> list[Step]:
    """Parse a scenario; raises ScenarioError naming the bad step."""
    steps = []
    for raw in text.split(";"):
        step = raw.strip()
        if not step:
            continue
        verb, *words = step.split()
        if verb == "fill" and words:
            pairs = []
            for item in " ".join(words).split(","):
                kind, _, size = item.strip().partition("=")
                pairs.append((_kind(kind.strip(), step), _pages(size.strip(), step)))
            steps.append(Step("fill", tuple(pairs)))
        elif verb == "punch" and len(words) == 2:
            try:
                fraction = float(words[1])
            except ValueError:
                fraction = -1.0
            if not 0.0 <= fraction <= 1.0:
                raise ScenarioError(f"step '{step}': FRACTION must be a number within 0..1")
            steps.append(Step("punch", (_kind(words[0], step), fraction)))
        elif verb == "free" and len(words) == 1:
            steps.append(Step("free", (_kind(words[0], step),)))
        elif verb in ("balloon", "thp") and len(words) == 1:
            steps.append(Step(verb, (_pages(words[0], step),)))
        elif verb == "compact" and not words:
            steps.append(Step("compact", ()))
        elif verb == "wait" and len(words) == 1 and words[0].isdigit():
            steps.append(Step("wait", (int(words[0]),)))
        else:
            raise ScenarioError(f"step '{step}': not a step; use fill, punch, free, balloon, compact, thp or wait")
    if not steps:
        raise ScenarioError("no steps given")
    return steps


class ScenarioRunner:
    """Runs steps against one zone; owners are registered on first use."""

    def __init__(self, zone: Zone, thp_defrag: str = "madvise", proactiveness: int = 0, reporting: bool = False):
        self.zone = zone
        self.thp_defrag = thp_defrag
        self.proactiveness = proactiveness
        self.reporting = reporting
        self.clock = 0  # simulated seconds waited so far
        self.owners: dict[str, int] = {}

    def owner(self, kind: str) -> int:
        if kind not in self.owners:
            self.owners[kind] = self.zone.register_owner(kind, C.KIND_BY_NAME[kind])
        return self.owners[kind]

    def run(self, step: Step) -> str:
        """Run one step; returns a one-line summary of what it did."""
        return getattr(self, "_" + step.verb)(*step.args)

    def _fill(self, *pairs) -> str:
        want = {self.owner(kind): pages for kind, pages in pairs}
        got = dict.fromkeys(want, 0)
        rng = self.zone.rng
        while want:
            owners = list(want)
            o = owners[int(randbelow(rng, len(owners)))]
            n = min(want[o], 1 + int(randbelow(rng, CHUNK_PAGES)))
            done = self.zone.alloc_gfp(o, 0, n)
            got[o] += done
            want[o] -= n
            if done < n or want[o] == 0:
                del want[o]
        return "filled " + ", ".join(f"{self.zone.owner_names[o]}={pages}" for o, pages in got.items()) + " pages"

    def _punch(self, kind: str, fraction: float) -> str:
        o = self.owner(kind)
        freed = self.zone.free_owner(o, int(self.zone.owner_pages(o) * fraction), self.zone.rng, "random")
        return f"punched {freed} pages of {kind}"

    def _free(self, kind: str) -> str:
        o = self.owner(kind)
        freed = self.zone.free_owner(o, self.zone.owner_pages(o), self.zone.rng, "oldest")
        return f"freed {freed} pages of {kind}"

    def _balloon(self, target: int) -> str:
        zone = self.zone
        while zone.balloon_pages() != target:
            diff = target - zone.balloon_pages()
            moved = zone.inflate(diff) if diff > 0 else zone.deflate(-diff)
            if moved == 0:
                break
        return f"balloon at {zone.balloon_pages()} pages (target {target})"

    def _compact(self) -> str:
        before = int(self.zone.a.vm[C.VM_PGMIGRATE_SUCCESS])
        self.zone.compact_memory()
        return f"compacted: {int(self.zone.a.vm[C.VM_PGMIGRATE_SUCCESS]) - before} pages migrated"

    def _thp(self, pages: int) -> str:
        huge, fallback, missing = self.zone.thp_fault(
            self.owner_thp(), self.owner("anon"), pages >> C.HPAGE_PMD_ORDER, self.thp_defrag
        )
        return f"thp: {huge} huge, {fallback} fallback, {missing} base pages not allocated"

    def owner_thp(self) -> int:
        if "thp" not in self.owners:
            self.owners["thp"] = self.zone.register_owner("thp", C.KIND_THP)
        return self.owners["thp"]

    def _wait(self, seconds: int) -> str:
        reported = 0
        for _ in range(seconds):
            self.zone.run_daemons(proactiveness=self.proactiveness)
            self.clock += 1
            if self.reporting and self.clock % PAGE_REPORTING_DELAY == 0:
                reported += self.zone.report_free_pages()
        return f"waited {seconds} s" + (f", {reported} free blocks reported" if self.reporting else "")


def step_summary(zone: Zone) -> str:
    """Free 2 MiB blocks and pageblocks per type, for --each."""
    counts = zone.pageblock_counts()
    names = ", ".join(f"{n} {int(c)}" for n, c in zip(C.MIGRATETYPE_NAMES, counts))
    return f"free 2MiB blocks {zone.free_2mib_blocks()}; pageblocks {names}; balloon {zone.balloon_pages()} pages"


