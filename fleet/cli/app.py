"""The `fleet` command's typer apps and its one error type.

Every user error ends the same way: one line on stderr starting with
"fleet: error:" and exit code 2, whether typer/click refused an option or a
value failed our own validation (`main` in __init__.py maps them).
"""

import typer

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


class UserError(Exception):
    """A bad input, reported as one line and exit code 2."""
