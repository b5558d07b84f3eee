"""`fleet validate setup|record|compare|trace`: the real-kernel harness."""

import json
import sys
from pathlib import Path

import typer

from .app import UserError, validate_app

VALIDATION_DIR = "experiments/validation"


@validate_app.command("setup")
def validate_setup(jobs: int = typer.Option(0, min=0, help="Parallel build jobs (0: one per core).")) -> None:
    """Build the two kernels (cached; CONFIG_BALLOON_COMPACTION off and on) and the guest's initramfs."""
    from ..validate import initramfs, kernels

    try:
        for line in kernels.setup_kernels(jobs or None):
            print(line)
        print(f"initramfs: {initramfs.initramfs()}")
    except kernels.SetupError as e:
        raise UserError(str(e)) from None


def _scenarios(paths: list[str]):
    from ..scenario import ScenarioError
    from ..validate.scenarios import load_scenario, shipped_scenarios

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
    reps: int | None = typer.Option(
        None, min=1, max=20, help="Repetitions per kernel (default: the scenario's `reps`, 3 if it names none)."
    ),
) -> None:
    """Run scenarios in real guests of both kernels, side by side, and write each NAME.ref.json beside it."""
    from ..validate import kernels
    from ..validate.qemu import GuestError
    from ..validate.record import record

    for sc in _scenarios(scenarios or []):
        n = reps or sc.reps
        print(f"recording {sc.path} ({n} repetitions per kernel)", file=sys.stderr, flush=True)
        try:
            print(record(sc, n))
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
    from ..validate.compare import compare, render_json, render_text

    try:
        rows, summary = compare(_scenarios(scenarios or []), tuple(range(1, seeds + 1)))
    except (FileNotFoundError, ValueError) as e:
        raise UserError(str(e)) from None
    print(render_json(rows, summary) if as_json else render_text(rows, summary))


def _steps(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UserError(f"--steps: expected step numbers such as 4,6, got {text!r}") from None


@validate_app.command("trace")
def validate_trace(
    scenario: str = typer.Argument(..., metavar="SCENARIO.toml", help="The scenario to run."),
    steps: str = typer.Option(..., help="Steps to sample, 1-based, comma-separated (e.g. 4,6)."),
    world: str = typer.Option("off", help="Kernel: off (CONFIG_BALLOON_COMPACTION=n) or on."),
    interval_ms: int = typer.Option(10, help="Sampling interval in ms (1..1000); shorter perturbs more."),
    rep: int = typer.Option(1, min=1, max=20, help="Repetition number whose random punches to repeat."),
    out: Path = typer.Option(..., help="Parquet file to write."),
) -> None:
    """Run one world of a scenario in a real guest and sample /proc during chosen steps (time series to Parquet)."""
    from ..validate import kernels
    from ..validate.qemu import GuestError
    from ..validate.trace import TraceError, check_request, summarize, trace, write_trace

    if world not in kernels.WORLDS:
        raise UserError(f"--world must be one of {', '.join(kernels.WORLDS)}, got {world!r}")
    if out.suffix != ".parquet":
        raise UserError(f"--out: expected a .parquet file, got {out}")
    if not out.parent.is_dir():
        raise UserError(f"--out: no directory {out.parent}")
    (sc,) = _scenarios([scenario])
    try:
        traced = check_request(sc, _steps(steps), interval_ms)
        table = trace(sc, world, traced, interval_ms, rep, log=lambda m: print(m, file=sys.stderr, flush=True))
    except TraceError as e:
        raise UserError(str(e)) from None
    except (kernels.SetupError, GuestError, OSError) as e:
        raise UserError(f"{sc.path}: {e}") from None
    except KeyboardInterrupt:
        print(f"fleet: interrupted; {out} was not written", file=sys.stderr)
        raise typer.Exit(130) from None
    write_trace(table, out)
    reference = json.loads(sc.reference_path.read_text()) if sc.reference_path.exists() else None
    for line in summarize(table, reference):
        print(line)
    print(out)
