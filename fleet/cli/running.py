"""`fleet run` and `fleet sweep`: parse and check, hand the runs to fleet.runner, report each
run (and, after Ctrl-C, what was committed and how to resume)."""

import sys

import typer

from .app import UserError, app


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
    from .. import engine
    from ..results import ResultsError
    from ..runner import PlannedRun, run_all
    from ..spec import SpecError, build_spec, resolve_raw
    from .progress import RunProgress

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
    shown = RunProgress()
    shown.announce(1)

    def finished(_: PlannedRun, row: dict) -> None:
        rows.append(row)
        shown.finished()

    try:
        with shown:
            run_all(
                out,
                [run],
                workers=workers,
                address=address,
                refuse_committed=True,
                progress=lambda *_: shown.start(label, spec.experiment.duration_s),
                finished=finished,
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
        f"hosts swapped out {row['host_swap_out_bytes'] / (1 << 20):.0f} MiB, {row['oom_kills']} OOM kill(s); "
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
    spec_path: str = typer.Argument(..., metavar="SPEC.toml", help="Experiment spec with a \\[sweep] table."),
    out: str = typer.Option(..., "--out", help="Results folder."),
    workers: int | None = typer.Option(None, min=1, help="CPUs of the embedded Ray (default: all cores)."),
    address: str | None = typer.Option(None, help="Join this Ray cluster instead (or set RAY_ADDRESS)."),
    sets: list[str] = typer.Option([], "--set", help="Override a spec key before the grid is expanded."),
) -> None:
    """Run every point of the spec's \\[sweep] grid times every seed; runs
    already in --out are skipped, so an interrupted sweep resumes."""
    from ..results import ResultsError, committed_runs
    from ..runner import PlannedRun, run_all
    from ..spec import SpecError, build_spec, resolve_raw, sweep_points
    from .progress import RunProgress

    try:
        runs = [PlannedRun(run_id, build_spec(point)) for run_id, point in sweep_points(resolve_raw(spec_path, sets))]
    except SpecError as e:
        raise UserError(str(e)) from None
    name = runs[0].spec.experiment.name

    shown = RunProgress()

    def announce(skipped: int) -> None:
        shown.announce(len(runs), skipped)
        shown.note(f"{name}: {len(runs)} runs, {skipped} already done")

    def finished(run: PlannedRun, row: dict) -> None:
        shown.summary(
            f"{run.run_id}: free 2MiB blocks per GiB {row['free_2mib_blocks_per_gib_mean']:.2f} mean, "
            f"{row['free_2mib_blocks_per_gib_end']:.2f} at the end; balloon {row['balloon_pages_end']} pages, "
            f"balloon_migrate {row['balloon_migrate']}, host THP splits {row['host_thp_split_pmd']}; "
            f"{row['wall_s']:.1f} s wall"
        )
        shown.finished()

    try:
        with shown:
            run_all(
                out,
                runs,
                workers=workers,
                address=address,
                announce=announce,
                finished=finished,
                progress=lambda i, n, run: shown.start(run.run_id, run.spec.experiment.duration_s),
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
