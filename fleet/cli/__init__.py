"""The `fleet` command: typer apps in app.py, one module per command group
(inspect, running: run and sweep, benchmark, analyze: analyze and plot,
compare, report, validate). This module maps every error to one line and an exit code.
"""

import importlib
import sys

import typer

try:  # typer >= 0.29 vendors click as typer._click
    from typer._click import exceptions as click_errors
except ImportError:  # pragma: no cover - older typer on plain click
    from click import exceptions as click_errors  # type: ignore[no-redef]  # the same module, unvendored

from .app import UserError, app
from .inspect import KERNEL_FILES

__all__ = ["KERNEL_FILES", "UserError", "app", "main", "run"]

# The order `fleet --help` lists them.
_GROUPS = ("inspect", "running", "benchmark", "analyze", "compare", "report", "validate")
for _group in _GROUPS:
    importlib.import_module(f".{_group}", __name__)


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
