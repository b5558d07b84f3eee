"""Scenarios of `fleet inspect --steps`: a `;`-separated list of steps run in
order against one guest's memory.

    fill KIND=SIZE[,KIND=SIZE...]   allocate, interleaved in small random chunks
    punch KIND FRACTION             free that fraction of KIND's pages at random
    punch KIND every N              free every Nth page of KIND in allocation
                                    order, oldest first (MADV_DONTNEED of
                                    every Nth page of a mapping)
    free KIND                       free all of KIND (a process exiting); KIND
                                    may also be thp
    balloon SIZE                    set the balloon target and run to it
    compact                         echo 1 > /proc/sys/vm/compact_memory
    thp SIZE                        fault SIZE of MADV_HUGEPAGE anon memory
                                    that stays mapped until `free thp`
    wait SECONDS                    let the daemons run for that long (and, if
                                    on, free page reporting every 2 s)

KIND is anon, file, slab, slab_reclaimable or kernel. Anon and THP memory
bring their page tables (ScenarioRunner). The whole scenario is
parsed and checked before the first step runs. The same text drives a real
Linux guest in `fleet validate record` (fleet/validate/steps.py says what each
verb does there).

When the daemons run: in `fleet inspect` only in `wait` steps (one kswapd,
kcompactd and proactive compaction round per second). With
`daemons="always"`, as in a real kernel, kswapd and the kcompactd it wakes
also run while a step runs (after every allocation chunk, balloon batch and
THP fault), and each step ends with one proactive compaction check; given
the step's duration (`ScenarioRunner.step_seconds`, as `fleet validate`
gives the real guest's), the proactive checks of kcompactd's 500 ms timer
within the step run too, the first at a uniform point of the step's first
500 ms (the timer's phase when a step starts is unknown). A kcompactd run
(woken for work or proactive) that starts during a THP burst or a balloon
inflation shares the vCPU with the faulting task or the balloon's worker,
as two runnable tasks do under CFS (equal shares): after each fault it
migrates as many pages as the fault took CPU time, THP_FAULT_MIGRATIONS
for the huge page's clearing plus the pages the fault's own compaction
migrated, and after each balloon batch BALLOON_BATCH_MIGRATIONS; it has the vCPU to itself once the step ends.
Simplified: a fill's chunks give kcompactd no share (it runs to its end).
"""

from dataclasses import dataclass, field

from .memory import compaction, virtio_balloon
from .memory import constants as C
from .memory.page_reporting import PAGE_REPORTING_DELAY
from .memory.pgtable import pte_pages
from .memory.rng import randbelow, random01
from .memory.zone import Zone
from .units import parse_size
from .workload.base import CHUNK_PAGES

FILL_KINDS = ("anon", "file", "slab", "slab_reclaimable", "kernel")
FREE_KINDS = (*FILL_KINDS, "thp")
DAEMON_MODES = ("wait", "always")
# A THP fault's CPU time in page migrations (the unit of a proactive run's
# share): a fault that found a free block took about 1.6 ms in the
# validation guests (182 faults in 0.29 s at the start of
# thp-under-fragmenter's `thp 512MiB`, traced at 25 ms, which the sampler
# inflates) and one page migration about 13.7 us (balloon-into-holes'
# compact_memory, 32.9k pages in 0.45 s). Twice the share gives the same
# validation figures.
THP_FAULT_MIGRATIONS = 117
# A balloon batch's CPU time in page migrations: the pre-seed guest of
# balloon-beyond-clean inflated 55.6k pages in 84 ms while nothing else ran
# (1.5 us a page, `fleet validate trace` at 20 ms), so a batch of 256 takes
# 0.39 ms, 28 migrations. In the same trace the kcompactd woken once the
# free pageblocks ran out migrated 970 pages while the last 9.7k pages
# inflated (37.7 batches: 1,060 at this share). Run to its end between
# batches instead, the model's kcompactd migrated 4.9k pages in that step
# (the kernel's unperturbed runs: 1.6k-2.9k).
BALLOON_BATCH_MIGRATIONS = 28
PAGE_TABLES = {"anon": "anon_pagetable", "thp": "thp_pagetable"}  # a kind's page-table owner
OWNER_KINDS = {"thp_fallback": C.KIND_ANON, **{pt: C.KIND_PAGETABLE for pt in PAGE_TABLES.values()}}


class ScenarioError(ValueError):
    """A step that cannot be parsed; the message names the step."""


@dataclass(frozen=True)
class Step:
    verb: str
    args: tuple
    text: str = field(default="", compare=False)  # as written, spaces normalised

    def __str__(self) -> str:
        return self.text or " ".join([self.verb, *map(str, self.args)])


def _pages(text: str, step: str) -> int:
    try:
        return parse_size(text) // C.PAGE_SIZE
    except ValueError as e:
        raise ScenarioError(f"step '{step}': {e}") from None


def _kind(text: str, step: str, kinds: tuple[str, ...] = FILL_KINDS) -> str:
    if text not in kinds:
        raise ScenarioError(f"step '{step}': unknown kind {text!r}; use one of {', '.join(kinds)}")
    return text


def parse_steps(text: str) -> list[Step]:
    """Parse a scenario; raises ScenarioError naming the bad step."""
    steps = []
    for raw in text.split(";"):
        step = raw.strip()
        if not step:
            continue
        step = " ".join(step.split())
        verb, *words = step.split()
        if verb == "fill" and words:
            pairs = []
            for item in " ".join(words).split(","):
                kind, _, size = item.strip().partition("=")
                pairs.append((_kind(kind.strip(), step), _pages(size.strip(), step)))
            steps.append(Step("fill", tuple(pairs), step))
        elif verb == "punch" and len(words) == 3 and words[1] == "every":
            if not words[2].isdigit() or int(words[2]) < 1:
                raise ScenarioError(f"step '{step}': N of 'every N' must be a whole number >= 1")
            steps.append(Step("punch", (_kind(words[0], step), "every", int(words[2])), step))
        elif verb == "punch" and len(words) == 2:
            try:
                fraction = float(words[1])
            except ValueError:
                fraction = -1.0
            if not 0.0 <= fraction <= 1.0:
                raise ScenarioError(f"step '{step}': FRACTION must be a number within 0..1")
            steps.append(Step("punch", (_kind(words[0], step), fraction), step))
        elif verb == "free" and len(words) == 1:
            steps.append(Step("free", (_kind(words[0], step, FREE_KINDS),), step))
        elif verb in ("balloon", "thp") and len(words) == 1:
            steps.append(Step(verb, (_pages(words[0], step),), step))
        elif verb == "compact" and not words:
            steps.append(Step("compact", (), step))
        elif verb == "wait" and len(words) == 1 and words[0].isdigit():
            steps.append(Step("wait", (int(words[0]),), step))
        else:
            raise ScenarioError(f"step '{step}': not a step; use fill, punch, free, balloon, compact, thp or wait")
    if not steps:
        raise ScenarioError("no steps given")
    return steps


def fill_interleaved(zone: Zone, want: dict[int, int], between=None, tables=None) -> dict[int, int]:
    """Allocate `want[o]` order-0 pages for each owner o through the slow path,
    the owners interleaved in random runs of 1..CHUNK_PAGES pages; an owner
    stops at its first failed allocation. `between(done)` runs after every
    run, `done` the share of the pages asked for that has been tried.
    `tables` maps an owner whose pages are mapped in address order (anon) to
    its page-table owner: before each run the PTE pages the run enters are
    allocated (memory/pgtable.py). Returns the pages each owner got."""
    want = dict(want)
    tables = tables or {}
    got = dict.fromkeys(want, 0)
    total = sum(want.values()) or 1
    tried = 0
    while want:
        owners = list(want)
        o = owners[int(randbelow(zone.rng, len(owners)))]
        n = min(want[o], 1 + int(randbelow(zone.rng, CHUNK_PAGES)))
        entered = pte_pages(got[o] + n) - pte_pages(got[o]) if o in tables else 0
        if entered:
            zone.alloc_gfp(tables[o], 0, entered)
        done = zone.alloc_gfp(o, 0, n)
        tried += n
        if between is not None:
            between(tried / total)
        got[o] += done
        want[o] -= n
        if done < n or want[o] == 0:
            del want[o]
    return got


class ScenarioRunner:
    """Runs steps against one zone; owners are registered on first use.

    THP memory has two owners, as a process's MADV_HUGEPAGE mapping has two
    kinds of pages: its huge pages ("thp") and the base pages of faults that
    fell back ("thp_fallback", anon); `free thp` frees both. THP faults obey
    the zone's defrag mode (Zone(thp_defrag=...)).

    Anon and THP memory come with their page tables (unmovable order-0
    pages, memory/pgtable.py): `fill anon` allocates a PTE page at the
    first fault in each 2 MiB of its mapping, a THP fault deposits one
    under its huge PMD (huge_memory.thp_fault) and a fallen-back region
    maps its base pages with one. Punches keep them; `free anon` and `free
    thp` free them after the pages (exit's free_pgtables). Simplified: a
    fallback's PTE page is allocated after its batch of THP faults, not
    before its base pages, and the few PMD, PUD and PGD pages of a process
    are left out.
    """

    def __init__(
        self,
        zone: Zone,
        proactiveness: int = 0,
        reporting: bool = False,
        daemons: str = "wait",
    ):
        if daemons not in DAEMON_MODES:
            raise ValueError(f"daemons must be one of {', '.join(DAEMON_MODES)}")
        self.zone = zone
        self.proactiveness = proactiveness
        self.reporting = reporting
        self.always = daemons == "always"
        self.clock = 0  # simulated seconds waited so far
        self.step_seconds: float | None = None  # how long the next step takes, if known
        self._next_check_s = 0.0  # kcompactd's next proactive check, in seconds into the step
        self.owners: dict[str, int] = {}

    def owner(self, name: str) -> int:
        if name not in self.owners:
            kind = OWNER_KINDS[name] if name in OWNER_KINDS else C.KIND_BY_NAME[name]
            self.owners[name] = self.zone.register_owner(name, kind)
        return self.owners[name]

    def run(self, step: Step, settle: bool = True) -> str:
        """Run one step; returns a one-line summary of what it did. With
        `settle` False the step's closing daemon round (`settle`) is left to
        the caller."""
        interval = compaction.HPAGE_FRAG_CHECK_INTERVAL_MS / 1000
        # kcompactd's timer runs on between steps, for a time the model does
        # not follow (a real guest's recorder reads and drains): with the
        # step's duration known, its first check falls at a point of the
        # step's first 500 ms drawn from the zone's generator.
        self._next_check_s = interval * float(random01(self.zone.rng)) if self.step_seconds is not None else interval
        done = getattr(self, "_" + step.verb)(*step.args)
        if settle:
            self.settle(step)
        return done

    def settle(self, step: Step) -> None:
        """The daemon round that ends a step in "always" mode: kswapd,
        kcompactd and one proactive compaction check (whose 500 ms timer
        fires after a short step has ended)."""
        if self.always and step.verb != "wait":
            self.zone.continue_kcompactd()
            self.zone.run_daemons(proactiveness=self.proactiveness)

    def _daemons_between(self, done: float | None = None, share: int = 0) -> None:
        """kswapd and the kcompactd it woke, between two pieces of a step.
        When the step's duration is known (`step_seconds`, e.g. a real
        guest's) and the piece says how much of the step is `done`, the
        proactive checks of kcompactd's 500 ms timer (HPAGE_FRAG_CHECK_
        INTERVAL_MSEC) that fall within the step run here as well: the first
        where `run` placed it, then 500 ms after the last one or after
        kcompactd last worked (a wake-up for work restarts the timeout;
        Zone.run_daemons says whether it had one). `share`: the migrations a
        kcompactd run may make here before it yields to the step again (0:
        it runs to its end). Simplified: the step's work is spread evenly
        over its duration."""
        if not self.always:
            return
        self.zone.continue_kcompactd(share)
        interval = compaction.HPAGE_FRAG_CHECK_INTERVAL_MS / 1000
        now = -1.0 if self.step_seconds is None or done is None else done * self.step_seconds
        # a kcompactd woken for work does it, and its 500 ms timeout starts
        # again (kcompactd(): timeout = default_timeout; continue); a kswapd
        # woken for order 0 and not boosted wakes no kcompactd.
        if self._next_check_s > now or self.zone.a.zs[C.ZS_KSWAPD_WAKE] > 0:
            if self.zone.run_daemons(budget=share):
                self._next_check_s = now + interval
        while self._next_check_s <= now:
            self.zone.run_daemons(proactiveness=self.proactiveness, seconds=interval, budget=share)
            self._next_check_s += interval

    def _fill(self, *pairs) -> str:
        tables = {self.owner(kind): self.owner(PAGE_TABLES[kind]) for kind, _ in pairs if kind in PAGE_TABLES}
        got = fill_interleaved(
            self.zone, {self.owner(kind): pages for kind, pages in pairs}, self._daemons_between, tables
        )
        return "filled " + ", ".join(f"{self.zone.owner_names[o]}={pages}" for o, pages in got.items()) + " pages"

    def _punch(self, kind: str, *how) -> str:
        o = self.owner(kind)
        if how[0] == "every":
            freed = self.zone.free_owner_every(o, how[1])
        else:
            freed = self.zone.free_owner(o, int(self.zone.owner_pages(o) * how[0]), self.zone.rng, "random")
        return f"punched {freed} pages of {kind}"

    def _free(self, kind: str) -> str:
        freed = 0
        for name in ("thp", "thp_fallback") if kind == "thp" else (kind,):
            o = self.owner(name)
            freed += self.zone.free_owner(o, self.zone.owner_pages(o), self.zone.rng, "oldest")
        if kind in PAGE_TABLES:
            pt = self.owner(PAGE_TABLES[kind])
            self.zone.free_owner(pt, self.zone.owner_pages(pt), self.zone.rng, "oldest")
        return f"freed {freed} pages of {kind}"

    def _balloon(self, target: int) -> str:
        """The fleet's entry point (Zone.update_balloon_size), one batch at a
        time so that the daemons can run between batches; stops when a batch
        moves nothing (the driver is out of puff)."""
        zone = self.zone
        start = zone.balloon_pages()
        while zone.balloon_pages() != target:
            before = zone.balloon_pages()
            zone.update_balloon_size(target, virtio_balloon.BALLOON_BATCH)
            self._daemons_between(abs(zone.balloon_pages() - start) / abs(target - start), BALLOON_BATCH_MIGRATIONS)
            if zone.balloon_pages() == before:
                break
        return f"balloon at {zone.balloon_pages()} pages (target {target})"

    def _compact(self) -> str:
        before = int(self.zone.a.vm[C.VM_PGMIGRATE_SUCCESS])
        self.zone.compact_memory()
        return f"compacted: {int(self.zone.a.vm[C.VM_PGMIGRATE_SUCCESS]) - before} pages migrated"

    def _thp(self, pages: int) -> str:
        totals = [0, 0, 0]
        faults = left = pages >> C.HPAGE_PMD_ORDER
        while left:
            n = 1 if self.always else left
            pt = self.owner(PAGE_TABLES["thp"])
            migrated = int(self.zone.a.vm[C.VM_PGMIGRATE_SUCCESS])
            got = self.zone.thp_fault(self.owner("thp"), self.owner("thp_fallback"), pt, n)
            migrated = int(self.zone.a.vm[C.VM_PGMIGRATE_SUCCESS]) - migrated
            if got[1]:
                self.zone.alloc_gfp(pt, 0, got[1])  # the fallen-back regions' PTE pages
            totals = [t + g for t, g in zip(totals, got)]
            left -= n
            self._daemons_between(1 - left / faults, THP_FAULT_MIGRATIONS * n + migrated)
        huge, fallback, missing = totals
        return f"thp: {huge} huge, {fallback} fallback, {missing} base pages not allocated"

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
