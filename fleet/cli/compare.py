"""`fleet compare`: two folders, or the variants of one, metric by metric (mmtests' compare-kernels style)."""

import sys

import typer

from .app import UserError, app


@app.command()
def compare(
    dirs: list[str] = typer.Argument(
        ..., metavar="DIR", help="One results folder (compared --by a key) or two: A, then B."
    ),
    by: str | None = typer.Option(
        None,
        "--by",
        metavar="KEY",
        help="With one folder: compare its variants that differ only in KEY, the first value the baseline "
        "(default kernel.balloon_compaction).",
    ),
    fmt: str = typer.Option("text", "--format", help="Output format: text or markdown."),
) -> None:
    """Two results folders, or the variants of one, side by side with Welch's t-test.

    Per metric: each side's mean over runs (harmonic for success rates) and
    stddev, B - A and its % of A, the p-value and mmtests' mark (p < 0.05)."""
    from ..analysis.compare import FORMATS, ByKeyError, CompareError, render_compare
    from ..analysis.compare import compare as compare_dirs
    from ..results import ResultsError

    if fmt not in FORMATS:
        raise UserError(f"--format: {fmt!r} is not one of {', '.join(FORMATS)}")
    if len(dirs) > 2:
        raise UserError(f"give one results folder or two, not {len(dirs)}")
    if len(dirs) == 2 and by is not None:
        raise UserError("--by compares the variants of one folder; give one folder, or two without --by")
    try:
        report = compare_dirs(dirs, by)
    except ByKeyError as e:
        raise UserError(f"--by: {e}") from None
    except (ResultsError, CompareError) as e:
        raise UserError(str(e)) from None
    sys.stdout.write(render_compare(report, fmt))
