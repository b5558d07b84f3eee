"""`fleet report`: one self-contained HTML page of a results folder."""

import typer

from .app import UserError, app


@app.command()
def report(
    out_dir: str = typer.Argument(..., metavar="DIR", help="Results folder of fleet run / fleet sweep."),
    to: str = typer.Option(..., "--out", help="The HTML file to write (in a folder that exists)."),
) -> None:
    """One self-contained HTML page: headline, figures, tables, spec and provenance."""
    from ..analysis.report import write_report
    from ..results import ResultsError

    try:
        path = write_report(out_dir, to)
    except ResultsError as e:
        raise UserError(str(e)) from None
    except OSError as e:
        raise UserError(f"--out: cannot write {e.filename or to}: {e.strerror or e}") from None
    print(path)
