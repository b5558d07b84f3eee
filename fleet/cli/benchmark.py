"""`fleet bench`: the benchmark suite, whole or by part."""

import json
import sys

import typer

from ..memory import constants as C
from .app import bench_app
from .inspect import guest_pages

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
    from ..bench import machine, parts

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
