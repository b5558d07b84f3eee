"""`fleet analyze` and `fleet plot`: tables, headline sentences and figures of a results folder."""

import sys

import typer

from .app import UserError, app


@app.command()
def analyze(
    out_dir: str = typer.Argument(..., metavar="DIR", help="Results folder of fleet run / fleet sweep."),
    fmt: str = typer.Option("rich", "--format", help="Output format: rich, csv, json or markdown."),
    headline: bool = typer.Option(
        False, "--headline", help="Also print one sentence per regime (per era, if it varies) on the on-vs-off change."
    ),
    scorecard: bool = typer.Option(
        False,
        "--scorecard",
        help="Also print the policy scorecard: per variant host memory reclaimed, guest pressure, OOM kills, "
        "host swap, free 2 MiB blocks per GiB and host huge-page coverage.",
    ),
) -> None:
    """Per-variant metrics (mean over seeds) and the balloon compaction
    on-vs-off difference with its 95% interval over seeds."""
    from ..analysis import FORMATS, headline_text, render
    from ..analysis import analyze as analyze_dir
    from ..results import ResultsError

    if fmt not in FORMATS:
        raise UserError(f"--format: {fmt!r} is not one of {', '.join(FORMATS)}")
    from ..analysis.scorecard import render_scorecard
    from ..analysis.scorecard import scorecard as scorecard_of

    try:
        result = analyze_dir(out_dir)
        card = scorecard_of(out_dir) if scorecard else None
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
        sys.stdout.write("\n" + headline_text(result))
    if card is not None:
        sys.stdout.write("\n" + render_scorecard(card, fmt))


@app.command()
def plot(
    out_dir: str = typer.Argument(..., metavar="DIR", help="Results folder of fleet run / fleet sweep."),
    to: str = typer.Option(..., "--out", help="Folder for the PNG files (created)."),
) -> None:
    """PNG figures per variant: free 2 MiB blocks, buddyinfo, host memory, THP and high-order success."""
    from ..analysis import plot_results
    from ..results import ResultsError

    try:
        paths = plot_results(out_dir, to)
    except ResultsError as e:
        raise UserError(str(e)) from None
    except OSError as e:
        raise UserError(f"--out: {e}") from None
    for path in paths:
        print(path)
