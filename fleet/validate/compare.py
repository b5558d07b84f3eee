"""`fleet validate compare`: the model against the recorded real kernels.

Per scenario and step it sets real on/off (mean over repetitions), model
on/off (mean over seeds) and the two on−off differences side by side for the
block figures (free 2 MiB blocks as buddyinfo shows them and with the per-cpu
lists drained, Unmovable pageblocks), and at THP and compact steps the
counters each world added in that step. A block figure's sign agrees when the
real and the model on−off have the same sign, a difference under ZERO_BAND
blocks counting as zero on both sides; its relative error is
|model on−off − real on−off| / max(|real on−off|, ZERO_BAND). Many rows
(boot, the first fills) are zero on both sides and agree trivially, so the
summary also gives both figures over the informative rows alone, those where
either side's on−off reaches ZERO_BAND.

Each figure is also held to a band around the real kernels' values, in both
worlds: a block figure within BLOCK_BAND_SHARE of the real mean (at least
BLOCK_BAND_MIN blocks); thp_fault_fallback and compact_stall within the real
min..max widened by half its width (a quarter on each side). A sign the
real repetitions themselves disagree on (each repetition's on and off ran
side by side) is marked `~`.
"""

import json
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path

from ..memory import constants as C
from .boot import measured_boot_state
from .model import run_model
from .scenarios import Scenario

ZONE = "DMA32"  # the real zone the model's one zone stands for
ZERO_BAND = 8
BLOCK_BAND_SHARE = 0.15
BLOCK_BAND_MIN = 16
BANDED_COUNTERS = ("thp_fault_fallback", "compact_stall")
BLOCK_METRICS = {
    "free_2mib": "free 2MiB blocks",
    "free_2mib_drained": "free 2MiB, pcp drained",
    "unmovable_pageblocks": "Unmovable pageblocks",
}
COUNTERS = ("thp_fault_alloc", "thp_fault_fallback", "compact_stall", "balloon_migrate", "pgmigrate_success")
COUNTER_STEPS = ("thp", "compact")
SEEDS = (1, 2, 3)


def _free_2mib(buddy: list[int]) -> int:
    return sum(n << (order - 9) for order, n in enumerate(buddy) if order >= 9)


def step_seconds(ref: dict, world: str) -> list[float]:
    """How long each step took in the real guests of one world (mean over
    repetitions): the time the model's daemons run on within a step."""
    runs = ref["runs"][world]
    return [statistics.fmean(run["snapshots"][i]["wall_s"] for run in runs) for i in range(1, len(ref["steps"]) + 1)]


def real_figures(snap: dict) -> dict:
    """The compared figures of one real snapshot."""
    return {
        "free_2mib": _free_2mib(snap["buddyinfo"][ZONE]),
        "free_2mib_drained": _free_2mib(snap["buddyinfo_drained"][ZONE]),
        "unmovable_pageblocks": snap["pageblocks"][ZONE]["Unmovable"],
        "vmstat": snap["vmstat"],
    }


@dataclass
class Row:
    scenario: str
    index: int  # 0 is the boot snapshot
    step: str
    metric: str
    real_off: float
    real_on: float
    model_off: float
    model_on: float
    real_min: tuple[float, float]  # (off, on) over repetitions
    real_max: tuple[float, float]
    signed: bool  # a block figure, held to sign agreement
    real_rep_deltas: tuple[float, ...] = ()  # on − off of each repetition (on and off ran side by side)

    @property
    def real_sign_stable(self) -> bool:
        """The repetitions agree on the sign of on − off (zero band included)."""
        return len({_sign(d) for d in self.real_rep_deltas}) <= 1

    @property
    def real_delta(self) -> float:
        return self.real_on - self.real_off

    @property
    def model_delta(self) -> float:
        return self.model_on - self.model_off

    @property
    def agrees(self) -> bool:
        return _sign(self.real_delta) == _sign(self.model_delta)

    @property
    def relative_error(self) -> float:
        return abs(self.model_delta - self.real_delta) / max(abs(self.real_delta), ZERO_BAND)

    @property
    def informative(self) -> bool:
        return self.signed and max(abs(self.real_delta), abs(self.model_delta)) >= ZERO_BAND

    @property
    def banded(self) -> bool:
        return self.signed or self.metric in BANDED_COUNTERS

    @property
    def within_band(self) -> bool:
        """Both worlds' model values inside the band around the real ones."""
        for w, model, real in ((0, self.model_off, self.real_off), (1, self.model_on, self.real_on)):
            if self.signed:
                ok = abs(model - real) <= max(BLOCK_BAND_SHARE * real, BLOCK_BAND_MIN)
            else:
                lo, hi = self.real_min[w], self.real_max[w]
                ok = lo - (hi - lo) / 4 <= model <= hi + (hi - lo) / 4
            if not ok:
                return False
        return True


def _sign(x: float) -> int:
    return 0 if abs(x) < ZERO_BAND else (1 if x > 0 else -1)


def _series(snaps_by_run: list[list[dict]], metric: str, index: int) -> list[float]:
    """One figure at one step over runs; counters as the step's increment."""
    if metric in BLOCK_METRICS:
        return [float(s[index][metric]) for s in snaps_by_run]
    return [float(s[index]["vmstat"].get(metric, 0) - s[index - 1]["vmstat"].get(metric, 0)) for s in snaps_by_run]


def model_runs(sc: Scenario, ref: dict, world: str, seeds=SEEDS) -> list[list[dict]]:
    """The model's snapshots of one world, a list per seed: booted from the
    reference's measured boot state, each step on the real step's duration."""
    boots = [run["snapshots"][0] for w in ("off", "on") for run in ref["runs"][w]]
    pfnmap = ref["runs"][world][0]["snapshots"][0].get("pfnmap")
    boot = measured_boot_state(boots, ZONE, sc.zone_pages, sc.memory_bytes // C.PAGE_SIZE, pfnmap, sc.zone_pfns.start)
    return [run_model(sc, boot, world, seed, step_seconds(ref, world)) for seed in seeds]


def compare_scenario(sc: Scenario, seeds=SEEDS) -> list[Row]:
    ref = json.loads(sc.reference_path.read_text())
    if ref["steps"] != [str(s) for s in sc.steps] or ref["memory_bytes"] != sc.memory_bytes:
        raise ValueError(f"{sc.reference_path}: recorded for other steps or memory than {sc.path}; re-record it")
    real = {w: [[real_figures(s) for s in run["snapshots"]] for run in ref["runs"][w]] for w in ("off", "on")}
    model = {w: model_runs(sc, ref, w, seeds) for w in ("off", "on")}
    names = ["boot", *ref["steps"]]
    rows = []
    for i, step in enumerate(names):
        metrics = list(BLOCK_METRICS)
        if i and step.split()[0] in COUNTER_STEPS:
            metrics += COUNTERS
        for metric in metrics:
            r = {w: _series(real[w], metric, i) for w in real}
            m = {w: _series(model[w], metric, i) for w in model}
            rows.append(
                Row(
                    sc.name,
                    i,
                    step,
                    metric,
                    statistics.fmean(r["off"]),
                    statistics.fmean(r["on"]),
                    statistics.fmean(m["off"]),
                    statistics.fmean(m["on"]),
                    (min(r["off"]), min(r["on"])),
                    (max(r["off"]), max(r["on"])),
                    metric in BLOCK_METRICS,
                    tuple(on - off for off, on in zip(r["off"], r["on"])),
                )
            )
    return rows


@dataclass
class Summary:
    steps_compared: int  # step figures held to the sign (block figures)
    sign_agreement: float  # share of them whose sign agrees
    median_relative_error: float
    disagreements: int
    informative: int  # of them, those where either side moves >= ZERO_BAND
    informative_sign_agreement: float
    informative_median_relative_error: float
    banded: int  # figures held to a band (blocks, THP fallbacks, stalls)
    within_band: float  # share of them inside it
    real_unstable: int  # signed figures whose real repetitions disagree on the sign


def summarize(rows: list[Row]) -> Summary:
    signed = [r for r in rows if r.signed]
    informative = [r for r in signed if r.informative]
    banded = [r for r in rows if r.banded]
    agree = sum(r.agrees for r in signed)
    return Summary(
        len(signed),
        round(agree / len(signed), 4),
        round(statistics.median(r.relative_error for r in signed), 4),
        len(signed) - agree,
        len(informative),
        round(sum(r.agrees for r in informative) / max(len(informative), 1), 4),
        round(statistics.median(r.relative_error for r in informative), 4) if informative else 0.0,
        len(banded),
        round(sum(r.within_band for r in banded) / len(banded), 4),
        sum(not r.real_sign_stable for r in signed),
    )


def _label(metric: str) -> str:
    return BLOCK_METRICS.get(metric, metric)


def render_text(rows: list[Row], summary: Summary) -> str:
    head = (
        f"{'step':<30} {'figure':<24} {'real off':>9} {'real on':>9} {'model off':>9} {'model on':>9} "
        f"{'real Δ':>8} {'model Δ':>8}  {'sign':<7} band"
    )
    out = []
    scenario = None
    for r in rows:
        if r.scenario != scenario:
            scenario = r.scenario
            out += ["", f"== {scenario}", head]
        step = f"{r.index} {r.step}"[:30] if r.metric == next(iter(BLOCK_METRICS)) else ""
        mark = ("ok" if r.agrees else "DIFFERS") if r.signed else ""
        if r.signed and not r.real_sign_stable:
            mark += "~"
        band = ("in" if r.within_band else "OUT") if r.banded else ""
        out.append(
            f"{step:<30} {_label(r.metric):<24} {r.real_off:>9.1f} {r.real_on:>9.1f} {r.model_off:>9.1f} "
            f"{r.model_on:>9.1f} {r.real_delta:>8.1f} {r.model_delta:>8.1f}  {mark:<7} {band}"
        )
    out += [
        "",
        f"sign of on−off agrees in {summary.sign_agreement:.1%} of {summary.steps_compared} step figures "
        f"({summary.disagreements} differ; |Δ| < {ZERO_BAND} blocks counts as zero); "
        f"median relative error of on−off {summary.median_relative_error:.2f}",
        f"informative figures (either side's |Δ| >= {ZERO_BAND}): {summary.informative}, sign agrees in "
        f"{summary.informative_sign_agreement:.1%}, "
        f"median relative error {summary.informative_median_relative_error:.2f}",
        f"within band (blocks: {BLOCK_BAND_SHARE:.0%} or {BLOCK_BAND_MIN} of the real mean; THP fallbacks and "
        f"stalls: the real min..max widened by half): {summary.within_band:.1%} of {summary.banded}",
        f"~: the real repetitions disagree on that sign ({summary.real_unstable} figures)",
    ]
    return "\n".join(out[1:])


def render_json(rows: list[Row], summary: Summary) -> str:
    items = [
        asdict(r)
        | {
            "real_delta": r.real_delta,
            "model_delta": r.model_delta,
            "agrees": r.agrees if r.signed else None,
            "within_band": r.within_band if r.banded else None,
            "real_sign_stable": r.real_sign_stable if r.signed else None,
        }
        for r in rows
    ]
    return json.dumps({"summary": asdict(summary), "rows": items}, indent=1)


def compare(scenarios: list[Scenario], seeds=SEEDS) -> tuple[list[Row], Summary]:
    missing = [str(sc.reference_path) for sc in scenarios if not sc.reference_path.exists()]
    if missing:
        raise FileNotFoundError(f"no recorded reference {missing[0]}: run `fleet validate record {scenarios[0].path}`")
    rows = [row for sc in scenarios for row in compare_scenario(sc, seeds)]
    return rows, summarize(rows)


RATCHET = "ratchet.json"


def load_ratchet(folder: Path) -> dict:
    return json.loads((folder / RATCHET).read_text())
