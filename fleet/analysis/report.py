"""`fleet report`: one self-contained HTML page of a results folder, to look
at in a browser or attach to a mailing-list post (as mmtests' compare-kernels
HTML reports are).

The page holds, in order: the headline sentences (:func:`headline_sentences`,
per era when the era varies), every figure of ``fleet plot``
(:func:`plot_results`, whatever it draws, embedded as base64 PNG), the tables
of ``fleet analyze`` (:func:`tables`), the experiment spec (the resolved spec
of a run as its manifest entry records it, as TOML, and what varies across
the runs) and the provenance of the runs (code fingerprint, package versions,
the machine that wrote them, when they finished). Every text from the folder
is HTML-escaped; the page loads nothing from elsewhere.
"""

from __future__ import annotations

import base64
import errno
import html
import tempfile
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..results import code_fingerprint
from ..results.fs import atomic_write
from ..results.manifest import read_manifest
from ..spec import toml_text
from ..units import GIB
from .load import SEED_KEY, Run, sort_key
from .plots import plot_results
from .render import headline_sentences, no_effect_note, tables
from .stats import Analysis, analyze

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1300px; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; margin-top: 2em; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; } .wide { overflow-x: auto; }
caption { text-align: left; font-weight: bold; padding: 0.3em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; vertical-align: top; }
th { background: #f2f2f2; } td:first-child { white-space: nowrap; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1.5em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9em; }
pre { background: #f7f7f7; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
.note { color: #8a4b00; } li { margin: 0.4em 0; }
"""


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _table(title: str, heads: list[str], rows: Iterable[list[str]], numeric_from: int | None = None) -> str:
    """A table; the columns from `numeric_from` on (numbers) are right-aligned."""

    def cell(tag: str, i: int, text: str) -> str:
        cls = ' class="num"' if tag == "td" and numeric_from is not None and i >= numeric_from else ""
        return f"<{tag}{cls}>{_e(text)}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(heads))
    body = "\n".join("<tr>" + "".join(cell("td", i, c) for i, c in enumerate(r)) + "</tr>" for r in rows)
    caption = f"<caption>{_e(title)}</caption>"
    table = f"<table>\n{caption}\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>"
    return f'<div class="wide">{table}</div>'  # scrolls sideways when wider than the page


def _headline(a: Analysis) -> str:
    groups = headline_sentences(a)
    if not groups:
        note = no_effect_note(a) or "no inflated and returned phases to compare"
        return f'<p class="note">{_e(note)}</p>'
    parts = []
    for heading, sentences in groups:
        if heading is not None:
            parts.append(f"<h3>{_e(heading)}</h3>")
        parts.append('<ul class="headline">\n' + "\n".join(f"<li>{_e(s)}</li>" for s in sentences) + "\n</ul>")
    return "\n".join(parts)


def _figures(figures: list[tuple[str, bytes]]) -> str:
    return "\n".join(
        f'<figure><img src="data:image/png;base64,{base64.b64encode(png).decode()}" alt="{_e(name)}" '
        f'data-figure="{_e(name)}"><figcaption>{_e(name)}</figcaption></figure>'
        for name, png in figures
    )


def _tables(a: Analysis) -> str:
    out = []
    for title, heads, rows in tables(a):
        out.append(_table(title, heads, rows, numeric_from=2 if heads[:2] == ["group", "metric"] else 1))
    note = no_effect_note(a)
    if note:
        out.append(f'<p class="note">{_e(note)}</p>')
    return "\n".join(out)


def _values(values: Iterable[Any]) -> str:
    return ", ".join(str(v) for v in sorted(set(values), key=sort_key))


def _spec(a: Analysis, entries: dict[str, dict]) -> str:
    """Per experiment: what varies across its runs, and its first run's spec as TOML."""
    out = []
    for experiment in sorted({r.experiment for r in a.runs}):
        runs = [r for r in a.runs if r.experiment == experiment]
        rows = [[k, _values(r.params.get(k) for r in runs)] for k in a.varying]
        rows.append([SEED_KEY, _values(r.seed for r in runs)])
        out.append(_table(f"{experiment}: what varies across its {len(runs)} runs", ["parameter", "values"], rows))
        first = min(runs, key=lambda r: r.run_id)
        spec = entries.get(f"{first.experiment}/{first.run_id}", {}).get("spec")
        if isinstance(spec, dict):
            out.append(
                f"<p>The spec of run {_e(first.run_id)}, as its manifest entry records it (resolved: every default "
                "filled in, sizes in bytes); the other runs differ from it only in the parameters above.</p>"
                f"<pre>{_e(toml_text(spec))}</pre>"
            )
        else:
            out.append(f'<p class="note">The manifest records no spec for run {_e(first.run_id)}.</p>')
    return "\n".join(out)


def _counted(values: list[Any], n: int) -> str:
    """The distinct values with their run counts (one value: just it)."""
    counts = Counter("not recorded" if v is None else str(v) for v in values)
    if len(counts) == 1:
        value = next(iter(counts))
        return value if value != "not recorded" else f"not recorded ({n} runs)"
    return "; ".join(f"{v} ({c} runs)" for v, c in sorted(counts.items()))


def _machine(m: Any) -> str | None:
    if not isinstance(m, dict):
        return None
    mem = m.get("memory_total_bytes")
    memory = f"{mem / GIB:.1f} GiB" if isinstance(mem, (int, float)) else "?"
    where = f"{m.get('system', '?')} {m.get('machine', '')}".strip()
    return f"{m.get('cpu_model', '?')}, {m.get('cpus', '?')} CPUs, {memory}, {where}"


def _provenance(runs: list[Run], entries: dict[str, dict]) -> str:
    got = [entries.get(f"{r.experiment}/{r.run_id}", {}) for r in runs]
    n = len(runs)
    packages = sorted({p for e in got for p in (e.get("versions") or {})})
    finished = sorted(str(e["finished"]) for e in got if e.get("finished"))
    rows = [
        ["runs", str(n)],
        ["code fingerprint (digest of the fleet and policies sources)", _counted([e.get("code") for e in got], n)],
        *[[p, _counted([(e.get("versions") or {}).get(p) for e in got], n)] for p in packages],
        ["machine that wrote the results (the driver)", _counted([_machine(e.get("machine")) for e in got], n)],
        ["Ray nodes per run", _counted([len(e["nodes"]) if "nodes" in e else None for e in got], n)],
        ["finished (UTC)", f"{finished[0]} to {finished[-1]}" if finished else "not recorded"],
        ["this report made by code", code_fingerprint()],
    ]
    return _table("Provenance of the committed runs", ["what", "value"], rows)


def build_report(out_dir: str | Path) -> str:
    """The HTML page of a results folder. Raises ResultsError for a missing,
    partial (no committed run) or damaged folder."""
    a = analyze(out_dir)
    entries = read_manifest(Path(out_dir))["runs"]
    with tempfile.TemporaryDirectory(prefix="fleet-report-") as tmp:
        figures = [(p.name, p.read_bytes()) for p in plot_results(out_dir, tmp)]
    title = f"balloonfleet report: {a.out}"
    uncommitted = (
        f'<p class="note">Left out {len(a.uncommitted)} uncommitted run(s) (interrupted or still being written): '
        f"{_e(', '.join(a.uncommitted))}</p>"
        if a.uncommitted
        else ""
    )
    sections = [
        ("headline", "Headline: balloon compaction on vs off", _headline(a)),
        ("figures", "Figures (fleet plot)", _figures(figures)),
        ("tables", "Tables (fleet analyze)", _tables(a)),
        ("spec", "Experiment spec", _spec(a, entries)),
        ("provenance", "Provenance", _provenance(a.runs, entries)),
    ]
    body = "\n".join(f'<section id="{id_}">\n<h2>{_e(name)}</h2>\n{text}\n</section>' for id_, name, text in sections)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n<h1>{_e(title)}</h1>\n"
        f"<p>{len(a.runs)} committed runs, {len(a.variants)} variants.</p>\n{uncommitted}\n{body}\n</body>\n</html>\n"
    )


def write_report(out_dir: str | Path, to: str | Path) -> Path:
    """Write the page of `out_dir` to the file `to`, whole or not at all
    (its folder must exist); `to` is checked first, before the page is built.
    Raises ResultsError, or OSError for `to`."""
    path = Path(to)
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a folder, not a file", str(path))
    with atomic_write(path) as f:
        f.write(build_report(out_dir))
    return path
