"""`fleet inspect`: one guest's memory, step by step, in the kernel's own formats."""

import sys

import typer

from ..memory import constants as C
from ..spec.guests import check_guest_bytes
from ..units import format_size, parse_size
from .app import UserError, app

KERNEL_FILES = {
    "buddyinfo": "/proc/buddyinfo",
    "pagetypeinfo": "/proc/pagetypeinfo",
    "vmstat": "/proc/vmstat",
    "extfrag_index": "/sys/kernel/debug/extfrag/extfrag_index",
    "unusable_index": "/sys/kernel/debug/extfrag/unusable_index",
}


def guest_pages(text: str) -> int:
    """Pages of a guest memory size given as text, validated."""
    try:
        nbytes = parse_size(text)
    except ValueError as e:
        raise UserError(f"--memory: {e}") from None
    why = check_guest_bytes(nbytes)
    if why:
        raise UserError(f"--memory: {format_size(nbytes)} {why}")
    return nbytes // C.PAGE_SIZE


def shown_files(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    bad = [n for n in names if n not in KERNEL_FILES]
    if bad or not names:
        raise UserError(f"--show: unknown file {', '.join(bad) or '(none)'}; choose from {','.join(KERNEL_FILES)}")
    return names


@app.command()
def inspect(
    memory: str = typer.Option("1GiB", help="Guest memory size (KiB, MiB, GiB suffixes), 128MiB..1TiB."),
    seconds: int = typer.Option(30, min=0, help="Simulated seconds of the random workload."),
    seed: int = typer.Option(1, help="Seed of the guest's random generator."),
    era: str = typer.Option("6.x", help="Kernel rules to follow: 3.8 or 6.x."),
    show: str = typer.Option(",".join(KERNEL_FILES), help="Comma list of kernel files to print."),
    steps: str = typer.Option("", help="Scenario of ';'-separated steps to run instead of the random workload."),
    each: bool = typer.Option(False, "--each", help="With --steps: print the files after every step."),
    balloon_compaction: str = typer.Option(
        "on", help="on: balloon pages are movable (the seed, 3.8+); off: before it."
    ),
    thp_defrag: str = typer.Option("madvise", help="THP defrag mode: always, defer, defer+madvise, madvise, never."),
    free_page_reporting: bool = typer.Option(False, help="During wait steps, report free order-9+ blocks every 2 s."),
) -> None:
    """Boot one guest, run a seeded workload or a scenario, print its kernel files.

    The kernel is a fleet guest's with the spec's defaults (kcompactd on,
    proactiveness 20), so inspect and `fleet run` model the same kernel."""
    from ..memory.huge_memory import DEFRAG_MODES
    from ..memory.rng import new_rng
    from ..memory.zone import Zone
    from ..scenario import ScenarioError, ScenarioRunner, parse_steps, step_summary
    from ..spec import KernelSpec, SpecError, check_seed
    from ..workload.random_mix import MixSpec, RandomMix

    kernel = KernelSpec()  # the daemons of a fleet guest with the spec's defaults
    try:
        check_seed(seed, "--seed")
    except SpecError as e:
        raise UserError(str(e)) from None
    if era not in C.ERAS:
        raise UserError(f"--era: {era!r} is not one of {', '.join(C.ERAS)}")
    if balloon_compaction not in ("on", "off"):
        raise UserError(f"--balloon-compaction: {balloon_compaction!r} is not on or off")
    if thp_defrag not in DEFRAG_MODES:
        raise UserError(f"--thp-defrag: {thp_defrag!r} is not one of {', '.join(DEFRAG_MODES)}")
    if each and not steps:
        raise UserError("--each needs --steps")
    nr_pages = guest_pages(memory)
    names = shown_files(show)
    try:
        scenario = parse_steps(steps) if steps else []
    except ScenarioError as e:
        raise UserError(f"--steps: {e}") from None
    rng = new_rng(seed, 0)
    zone = Zone(nr_pages, era=era, balloon_compaction=balloon_compaction == "on", rng=rng, thp_defrag=thp_defrag)

    def files() -> str:
        return "\n".join(f"==> {KERNEL_FILES[name]} <==\n{zone.proc_text(name)}" for name in names)

    if not scenario:
        load = RandomMix(zone, MixSpec(), rng)
        for _ in range(seconds):
            load.tick()
            zone.run_daemons(kcompactd=kernel.kcompactd, proactiveness=kernel.proactiveness)
        sys.stdout.write(files())
        return
    runner = ScenarioRunner(zone, proactiveness=kernel.proactiveness, reporting=free_page_reporting)
    for i, step in enumerate(scenario, 1):
        done = runner.run(step)
        if each or i == len(scenario):
            print(f"### step {i}: {step}: {done}; {step_summary(zone)}")
        if each:
            sys.stdout.write(files() + "\n")
    if not each:
        sys.stdout.write(files())
