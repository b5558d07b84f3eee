"""The `fleet` command.

Every user error ends the same way: one line on stderr starting with
"fleet: error:" and exit code 2, whether typer/click refused an option or a
value failed our own validation.
"""

import json
import sys
from pathlib import Path

import typer

try:  # typer >= 0.29 vendors click as typer._click
    from typer._click import exceptions as click_errors
except ImportError:  # pragma: no cover - older typer on plain click
    from click import exceptions as click_errors  # type: ignore[no-redef]  # the same module, unvendored

from .memory import constants as C
from .spec.guests import check_guest_bytes
from .units import format_size, parse_size

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="balloonfleet: memory ballooning and huge pages in virtualised fleets.",
)
bench_app = typer.Typer(help="Run the benchmark suite (all parts, or the one named) and print its figures.")
app.add_typer(bench_app, name="bench")
validate_app = typer.Typer(
    no_args_is_help=True,
    help="Hold the model to real Linux 6.1 kernels: build them, record scenarios in QEMU guests, compare.",
)
app.add_typer(validate_app, name="validate")
VALIDATION_DIR = "experiments/validation"

KERNEL_FILES = {
    "buddyinfo": "/proc/buddyinfo",
    "pagetypeinfo": "/proc/pagetypeinfo",
    "vmstat": "/proc/vmstat",
    "extfrag_index": "/sys/kernel/debug/extfrag/extfrag_index",
    "unusable_index": "/sys/kernel/debug/extfrag/unusable_index",
}


class UserError(Exception):
    """A bad input, reported as one line and exit code 2."""


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
    from .memory.huge_memory import DEFRAG_MODES
    from .memory.rng import new_rng
    from .memory.zone import Zone
    from .scenario import ScenarioError, ScenarioRunner, parse_steps, step_summary
    from .spec import KernelSpec, SpecError, check_seed
    from .workload.random_mix import MixSpec, RandomMix

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


@app.command("run")
def run_command(
    spec_path: str = typer.Argument(..., metavar="SPEC.toml", help="Experiment spec."),
    out: str = typer.Option(..., "--out", help="Results folder (Parquet datasets + manifest.json)."),
    seed: int | None = typer.Option(None, help="Override the spec's seed."),
    workers: int | None = typer.Option(None, min=1, help="CPUs of the embedded Ray (default: all cores)."),
    address: str | None = typer.Option(None, help="Join this Ray cluster instead (or set RAY_ADDRESS)."),
    sets: list[str] = typer.Option([], "--set", help="Override a spec key: --set kernel.era=3.8"),
    check: bool = typer.Option(False, "--check", help="Run the memory invariant checker after every tick."),
    faults: list[str] = typer.Option(
        [], "--fault", help="Inject a crash: guest-crash@T or host-crash@T (simulated s)."
    ),
) -> None:
    """Simulate one run of a spec and write its results under --out."""
    if check:
        sets = [*sets, "experiment.check=true"]
    from . import engine
    from .results import ResultsError
    from .runner import PlannedRun, run_all
    from .spec import SpecError, build_spec, resolve_raw

    try:
        raw = resolve_raw(spec_path, sets, seed)
        raw.pop("sweep", None)
        spec = build_spec(raw)
        engine.parse_faults(faults, spec.experiment.duration_s)
    except (SpecError, ValueError) as e:
        raise UserError(str(e)) from None
    run = PlannedRun(f"seed={spec.experiment.seed}", spec, tuple(faults))
    label = f"{spec.experiment.name}/{run.run_id}"
    rows: list[dict] = []
    try:
        run_all(
            out,
            [run],
            workers=workers,
            address=address,
            refuse_committed=True,
            progress=lambda *_: engine.print_progress(label),
            finished=lambda _, row: rows.append(row),
        )
    except ResultsError as e:
        raise UserError(str(e)) from None
    except KeyboardInterrupt:
        raise interrupted(
            f"run {label} was not committed (nothing of it is visible in {out}); "
            f"the same command runs it again: {this_command()}"
        ) from None
    row = rows[0]
    print(
        f"{label}: {row['guests']} guests x {spec.experiment.duration_s} s "
        f"in {row['wall_s']:.1f} s wall ({row['guest_seconds_per_wall_second']:.0f} guest-seconds per second); "
        f"results in {out}"
    )


def interrupted(message: str) -> typer.Exit:
    """After a Ctrl-C: stop Ray, say what was committed and how to resume,
    and exit 130. A second Ctrl-C meanwhile exits at once."""
    import os
    import signal

    signal.signal(signal.SIGINT, lambda *_: os._exit(130))
    print(f"fleet: interrupted; {message}", file=sys.stderr, flush=True)
    try:
        import ray

        if ray.is_initialized():
            ray.shutdown()
    except Exception:  # pragma: no cover - nothing more to do on the way out
        pass
    return typer.Exit(130)


def this_command() -> str:
    """The command line as the user typed it (for "the same command resumes")."""
    import shlex

    return " ".join(["fleet", *map(shlex.quote, sys.argv[1:])])


@app.command()
def sweep(
    spec_path: str = typer.Argument(..., metavar="SPEC.toml", help="Experiment spec with a [sweep] table."),
    out: str = typer.Option(..., "--out", help="Results folder."),
    workers: int | None = typer.Option(None, min=1, help="CPUs of the embedded Ray (default: all cores)."),
    address: str | None = typer.Option(None, help="Join this Ray cluster instead (or set RAY_ADDRESS)."),
    sets: list[str] = typer.Option([], "--set", help="Override a spec key before the grid is expanded."),
) -> None:
    """Run every point of the spec's [sweep] grid times every seed; runs
    already in --out are skipped, so an interrupted sweep resumes."""
    from . import engine
    from .results import ResultsError, committed_runs
    from .runner import PlannedRun, run_all
    from .spec import SpecError, build_spec, resolve_raw, sweep_points

    try:
        runs = [PlannedRun(run_id, build_spec(point)) for run_id, point in sweep_points(resolve_raw(spec_path, sets))]
    except SpecError as e:
        raise UserError(str(e)) from None
    name = runs[0].spec.experiment.name

    def announce(skipped: int) -> None:
        print(f"{name}: {len(runs)} runs, {skipped} already done", file=sys.stderr)

    def finished(run: PlannedRun, row: dict) -> None:
        print(
            f"{run.run_id}: free 2MiB blocks per GiB {row['free_2mib_blocks_per_gib_mean']:.2f} mean, "
            f"{row['free_2mib_blocks_per_gib_end']:.2f} at the end; balloon {row['balloon_pages_end']} pages, "
            f"balloon_migrate {row['balloon_migrate']}, host THP splits {row['host_thp_split_pmd']}; "
            f"{row['wall_s']:.1f} s wall"
        )

    try:
        run_all(
            out,
            runs,
            workers=workers,
            address=address,
            announce=announce,
            finished=finished,
            progress=lambda i, n, run: engine.print_progress(f"[{i}/{n}] {run.run_id}"),
        )
    except ResultsError as e:
        raise UserError(str(e)) from None
    except KeyboardInterrupt:
        committed = len(set(committed_runs(out, name)) & {run.run_id for run in runs})
        raise interrupted(
            f"{committed} of {len(runs)} runs committed in {out} (the interrupted run is not visible); "
            f"the same command resumes: {this_command()}"
        ) from None
    print(f"{name}: {len(runs)} runs in {out}")


JSON_OPTION = typer.Option(False, "--json", help="Print one JSON object.")
QUICK_OPTION = typer.Option(False, "--quick", help="Small sizes, for CI smoke runs.")


@bench_app.callback(invoke_without_command=True)
def bench(ctx: typer.Context, as_json: bool = JSON_OPTION, quick: bool = QUICK_OPTION) -> None:
    """Run the whole suite (memory, guest and fleet parts) and print every
    figure, or one part with a subcommand."""
    if ctx.invoked_subcommand is None:
        _bench(None, as_json, quick)


@bench_app.command("memory")
def bench_memory(
    ctx: typer.Context,
    memory: str | None = typer.Option(None, help="Zone size (default 4GiB, 256MiB with --quick)."),
    as_json: bool = JSON_OPTION,
    quick: bool = QUICK_OPTION,
) -> None:
    """Alloc/free and compaction throughput of the memory kernels on one core."""
    _bench(["memory"], as_json, quick, ctx, guest_pages(memory) * C.PAGE_SIZE if memory else None)


@bench_app.command("guest")
def bench_guest(ctx: typer.Context, as_json: bool = JSON_OPTION, quick: bool = QUICK_OPTION) -> None:
    """Simulated seconds per wall second of one 4 GiB guest under the standard load."""
    _bench(["guest"], as_json, quick, ctx)


@bench_app.command("fleet")
def bench_fleet(ctx: typer.Context, as_json: bool = JSON_OPTION, quick: bool = QUICK_OPTION) -> None:
    """Guest-seconds per second of a small fleet on Ray with 1 and 2 workers."""
    _bench(["fleet"], as_json, quick, ctx)


def _bench(
    names: list[str] | None,
    as_json: bool,
    quick: bool,
    ctx: typer.Context | None = None,
    memory_bytes: int | None = None,
) -> None:
    """Run the named parts (None: all, in the suite's order) and print the
    machine's details and their figures:
    one JSON object, or `key  value` lines under a header per part. Options
    given before a subcommand (`fleet bench --json memory`) count too."""
    from .bench import machine, parts

    if ctx is not None and ctx.parent is not None:
        as_json = as_json or ctx.parent.params["as_json"]
        quick = quick or ctx.parent.params["quick"]
    suite = parts(quick, memory_bytes)
    names = names or list(suite)
    groups = {"machine": machine()}
    for name in names:
        print(f"fleet bench: {name} part{' (quick)' if quick else ''}...", file=sys.stderr, flush=True)
        groups[name] = suite[name]()
    if as_json:
        print(json.dumps({k: v for values in groups.values() for k, v in values.items()}))
        return
    blocks = []
    for name, values in groups.items():
        lines = [
            f"{key:36s} {value:,}" if isinstance(value, int) else f"{key:36s} {value}" for key, value in values.items()
        ]
        blocks.append("\n".join([f"[{name}]", *lines]))
    print("\n\n".join(blocks))


@app.command()
def analyze(
    out_dir: str = typer.Argument(..., metavar="DIR", help="Results folder of fleet run / fleet sweep."),
    fmt: str = typer.Option("rich", "--format", help="Output format: rich, csv, json or markdown."),
    headline: bool = typer.Option(
        False, "--headline", help="Also print one sentence per regime on the on-vs-off change."
    ),
) -> None:
    """Per-variant metrics (mean over seeds) and the balloon compaction
    on-vs-off difference with its 95% interval over seeds."""
    from .analysis import FORMATS, headline_sentences, render
    from .analysis import analyze as analyze_dir
    from .results import ResultsError

    if fmt not in FORMATS:
        raise UserError(f"--format: {fmt!r} is not one of {', '.join(FORMATS)}")
    try:
        result = analyze_dir(out_dir)
    except ResultsError as e:
        raise UserError(str(e)) from None
    if result.uncommitted:
        print(
            f"fleet: note: left out {len(result.uncommitted)} uncommitted run(s) (interrupted or still "
            f"being written): {', '.join(result.uncommitted)}",
            file=sys.stderr,
        )
    sys.stdout.write(render(result, fmt))
    if headline:
        sentences = headline_sentences(result)
        print("\n" + "\n".join(sentences) if sentences else "\n(no inflated and returned phases to compare)")


@app.command()
def plot(
    out_dir: str = typer.Argument(..., metavar="DIR", help="Results folder of fleet run / fleet sweep."),
    to: str = typer.Option(..., "--out", help="Folder for the PNG files (created)."),
) -> None:
    """PNG figures per variant: free 2 MiB blocks, buddyinfo, host memory, THP and high-order success."""
    from .analysis import plot_results
    from .results import ResultsError

    try:
        paths = plot_results(out_dir, to)
    except ResultsError as e:
        raise UserError(str(e)) from None
    except OSError as e:
        raise UserError(f"--out: {e}") from None
    for path in paths:
        print(path)


@validate_app.command("setup")
def validate_setup(jobs: int = typer.Option(0, min=0, help="Parallel build jobs (0: one per core).")) -> None:
    """Build the two kernels (cached; CONFIG_BALLOON_COMPACTION off and on) and the guest's initramfs."""
    from .validate import initramfs, kernels

    try:
        for line in kernels.setup_kernels(jobs or None):
            print(line)
        print(f"initramfs: {initramfs.initramfs()}")
    except kernels.SetupError as e:
        raise UserError(str(e)) from None


def _scenarios(paths: list[str]):
    from .scenario import ScenarioError
    from .validate.scenarios import load_scenario, shipped_scenarios

    try:
        if paths:
            return [load_scenario(p) for p in paths]
        if not Path(VALIDATION_DIR).is_dir():
            raise UserError(f"no scenarios given and no {VALIDATION_DIR}/ here: name SCENARIO.toml files")
        return shipped_scenarios(Path(VALIDATION_DIR))
    except ScenarioError as e:
        raise UserError(str(e)) from None


@validate_app.command("record")
def validate_record(
    scenarios: list[str] = typer.Argument(
        None, metavar="[SCENARIO.toml]...", help=f"Scenarios (default: all in {VALIDATION_DIR}/)."
    ),
    reps: int = typer.Option(3, min=1, max=20, help="Repetitions per kernel."),
) -> None:
    """Run scenarios in real guests of both kernels, side by side, and write each NAME.ref.json beside it."""
    from .validate import kernels
    from .validate.qemu import GuestError
    from .validate.record import record

    for sc in _scenarios(scenarios or []):
        print(f"recording {sc.path} ({reps} repetitions per kernel)", file=sys.stderr, flush=True)
        try:
            print(record(sc, reps))
        except (kernels.SetupError, GuestError, OSError) as e:
            raise UserError(f"{sc.path}: {e}") from None
        except KeyboardInterrupt:
            print(f"fleet: interrupted; {sc.reference_path} was not written", file=sys.stderr)
            raise typer.Exit(130) from None


@validate_app.command("compare")
def validate_compare(
    scenarios: list[str] = typer.Argument(
        None, metavar="[SCENARIO.toml]...", help=f"Scenarios (default: all in {VALIDATION_DIR}/)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of the table."),
    seeds: int = typer.Option(3, min=1, max=20, help="Model seeds per world (1..N)."),
) -> None:
    """Compare the model with the recorded references (needs no QEMU)."""
    from .validate.compare import compare, render_json, render_text

    try:
        rows, summary = compare(_scenarios(scenarios or []), tuple(range(1, seeds + 1)))
    except (FileNotFoundError, ValueError) as e:
        raise UserError(str(e)) from None
    print(render_json(rows, summary) if as_json else render_text(rows, summary))


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `fleet` console script."""
    command = typer.main.get_command(app)
    try:
        rv = command.main(args=argv, prog_name="fleet", standalone_mode=False)
    except click_errors.NoArgsIsHelpError as e:
        typer.echo(e.ctx.get_help())
        return 2
    except click_errors.UsageError as e:
        print(f"fleet: error: {e.format_message()}", file=sys.stderr)
        return 2
    except UserError as e:
        print(f"fleet: error: {e}", file=sys.stderr)
        return 2
    except typer.Abort:
        print("fleet: interrupted", file=sys.stderr)
        return 130
    return rv if isinstance(rv, int) else 0


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
