"""An :class:`~fleet.analysis.stats.Analysis` as text: the per-variant and
on-vs-off tables as rich, plain, markdown, csv or json, and the headline
sentences of ``fleet analyze --headline``."""

from __future__ import annotations

import csv
import io
import json
import math
import sys
from typing import Any

from .load import COMPACTION_KEY, ERA_KEY
from .metrics import NAN, isnan, metric_label
from .stats import Analysis

FORMATS = ("rich", "csv", "json", "markdown")


def number_text(v: Any) -> str:
    """A value as shown in the tables: 2 decimals, thousands separated, n/a for NaN."""
    if isnan(v):
        return "n/a"
    if isinstance(v, float) and v.is_integer() and abs(v) >= 1000:
        return f"{int(v):,}"
    if isinstance(v, int):
        return f"{v:,}"
    return f"{v:,.2f}"


def _ci(e: dict) -> str:
    if isnan(e["ci_low"]):
        return "n/a"
    return f"[{number_text(e['ci_low'])}, {number_text(e['ci_high'])}]"


def _json_value(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _json_value(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_json_value(x) for x in v]
    return v


def tables(a: Analysis, multiline: bool = False) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, headers, rows) of the human-readable tables."""
    tables = []
    heads = ["metric"] + [v.label for v in a.variants]
    if multiline:
        heads = ["metric"] + [v.label.replace(", ", "\n") for v in a.variants]
    rows = [["seeds"] + [", ".join(str(s) for s in v.seeds) for v in a.variants]]
    rows += [[metric_label(m)] + [number_text(v.metrics[m]) for v in a.variants] for m in a.metrics]
    tables.append((f"Per variant (mean over seeds), {a.out}", heads, rows))
    if a.effect:
        heads = ["group", "metric", "on - off", "change % vs off", "95% interval", "pairs"]
        rows = [
            [
                e["group"],
                metric_label(e["metric"]),
                number_text(e["mean_diff"]),
                number_text(e["rel_pct"]),
                _ci(e),
                str(e["n_pairs"]),
            ]
            for e in a.effect
        ]
        tables.append(("Balloon compaction on vs off (paired by seed)", heads, rows))
    return tables


def no_effect_note(a: Analysis) -> str | None:
    """Why there is no on-vs-off table, or None when there is one."""
    if a.compaction_varies and not a.effect:
        return "balloon compaction varies but no on-run has an off-run with the same parameters and seed"
    if not a.compaction_varies:
        return f"{COMPACTION_KEY} does not vary in this folder: no on-vs-off comparison"
    return None


def render_plain(a: Analysis) -> str:
    """The tables as aligned plain text (rich's fallback)."""
    lines = []
    for title, heads, rows in tables(a):
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(heads)]
        lines.append(title)
        fmt = "  ".join(
            f"{{:{'<' if i == 0 or (len(heads) == 6 and i == 1) else '>'}{w}}}" for i, w in enumerate(widths)
        )
        lines.append(fmt.format(*heads))
        lines.append("  ".join("-" * w for w in widths))
        lines.extend(fmt.format(*r) for r in rows)
        lines.append("")
    note = no_effect_note(a)
    if note:
        lines.append(note)
    return "\n".join(lines).rstrip("\n") + "\n"


def _render_rich(a: Analysis) -> str:
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # pragma: no cover - rich comes with typer
        return render_plain(a)
    import shutil

    buf = io.StringIO()
    # On a terminal, wrap to it; into a pipe or file, keep every row on one line.
    width = shutil.get_terminal_size((120, 24)).columns if sys.stdout.isatty() else 1000
    console = Console(file=buf, width=width, force_terminal=False, color_system=None)
    for title, heads, rows in tables(a, multiline=True):
        t = Table(title=title, title_justify="left")
        for i, h in enumerate(heads):
            left = i == 0 or (len(heads) == 6 and i == 1)
            t.add_column(h, justify="left" if left else "right")
        for r in rows:
            t.add_row(*r)
        console.print(t)
    note = no_effect_note(a)
    if note:
        console.print(note)
    return "".join(line.rstrip() + "\n" for line in buf.getvalue().splitlines())


def _render_markdown(a: Analysis) -> str:
    def cell(s: str) -> str:
        return s.replace("|", "\\|")

    lines = []
    for title, heads, rows in tables(a):
        lines.append(f"### {title}")
        lines.append("")
        lines.append("| " + " | ".join(cell(h) for h in heads) + " |")
        lines.append(
            "| "
            + " | ".join("---" if i == 0 or (len(heads) == 6 and i == 1) else "---:" for i in range(len(heads)))
            + " |"
        )
        lines.extend("| " + " | ".join(cell(c) for c in r) + " |" for r in rows)
        lines.append("")
    note = no_effect_note(a)
    if note:
        lines.append(note)
    return "\n".join(lines).rstrip("\n") + "\n"


CSV_COLUMNS = ("table", "label", "metric", "value", "rel_pct", "ci_low", "ci_high", "n")


def _render_csv(a: Analysis) -> str:
    """One long table: ``table`` is ``variants`` (label = variant, value =
    mean over seeds, n = runs) or ``effect`` (label = group, value = mean
    on - off, rel_pct, ci_low, ci_high, n = seed pairs). NaN is empty."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)

    def c(v):
        return "" if isnan(v) else repr(float(v)) if isinstance(v, float) else v

    for v in a.variants:
        for m in a.metrics:
            w.writerow(["variants", v.label, m, c(v.metrics[m]), "", "", "", len(v.runs)])
    for e in a.effect:
        w.writerow(
            [
                "effect",
                e["group"],
                e["metric"],
                c(e["mean_diff"]),
                c(e["rel_pct"]),
                c(e["ci_low"]),
                c(e["ci_high"]),
                e["n_pairs"],
            ]
        )
    return buf.getvalue()


def _render_json(a: Analysis) -> str:
    doc = {
        "out": str(a.out),
        "varying": a.varying,
        "metrics": a.metrics,
        "variants": [
            {"variant": v.label, "params": v.params, "seeds": v.seeds, "n_runs": len(v.runs), "metrics": v.metrics}
            for v in a.variants
        ],
        "effect": a.effect,
        "runs": [
            {
                "experiment": r.experiment,
                "run": r.run_id,
                "seed": r.seed,
                "variant": a.run_labels.get(r.key),
                "metrics": r.metrics,
            }
            for r in a.runs
        ],
    }
    return json.dumps(_json_value(doc), indent=1, default=str) + "\n"


def render(a: Analysis, fmt: str = "rich") -> str:
    """The per-variant and on-vs-off tables as text in one of FORMATS."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    return {
        "rich": _render_rich,
        "csv": _render_csv,
        "json": _render_json,
        "markdown": _render_markdown,
    }[fmt](a)


# Per phase metric: what a world that never reaches the phase fails to do.
_NEVER = {
    "free_2mib_per_gib_inflated": "inflates a balloon within the run (no guest's balloon ever grew)",
    "free_2mib_per_gib_returned": (
        "returns its balloons within the run (no sample after the inflation with the balloon below 10% of its peak)"
    ),
}


def _never_reached(a: Analysis, group_params: dict[str, Any], metric: str) -> str:
    """Which world of a group never reaches the phase of `metric`, in words."""
    worlds = []
    for v in a.variants:
        rest = {k: val for k, val in v.params.items() if k != COMPACTION_KEY}
        if rest == group_params and isnan(v.unpaired.get(metric, NAN)):  # its own phases
            worlds.append("with" if v.params.get(COMPACTION_KEY) in (True, "True", "true") else "without")
    if len(worlds) == 2:
        return f"neither world (with or without balloon compaction) {_NEVER[metric]}"
    if worlds:
        return f"the world {worlds[0]} balloon compaction never {_NEVER[metric]}"
    return "no seed has that phase in both worlds"


def _change(e: dict) -> str:
    """A change and its share of the pre-seed value, in words when there is no share."""
    if isnan(e["rel_pct"]):
        return f"{number_text(e['mean_diff'])} (from none without it)"
    return f"{number_text(e['mean_diff'])} ({number_text(e['rel_pct'])}%)"


def _intervals(*effects: dict) -> str:
    n = effects[0]["n_pairs"]
    if n < 2:
        return f"{n} seed pair, so no interval"
    if len(effects) == 1:
        return f"95% interval {_ci(effects[0])}, {n} seed pairs"
    return f"95% intervals {' and '.join(_ci(e) for e in effects)}, {n} seed pairs"


def _sentence(a: Analysis, label: str, inflated: dict, returned: dict) -> str:
    """The headline sentence of one group (see headline_sentences)."""
    gp = inflated["group_params"]
    if not inflated["n_pairs"]:
        return (
            f"{label}: free 2 MiB blocks per GiB with balloon compaction vs the pre-seed kernel: not measured, "
            f"because {_never_reached(a, gp, inflated['metric'])}"
        )
    head = (
        f"{label}: with balloon compaction, free 2 MiB blocks per GiB change by {_change(inflated)} "
        "while balloons are inflated"
    )
    if returned["n_pairs"]:
        return (
            f"{head} and by {_change(returned)} after they are returned, vs the pre-seed kernel "
            f"({_intervals(inflated, returned)})"
        )
    return (
        f"{head}, vs the pre-seed kernel ({_intervals(inflated)}); after they are returned: not measured, "
        f"because {_never_reached(a, gp, returned['metric'])}"
    )


def headline_sentences(a: Analysis) -> list[tuple[str | None, list[str]]]:
    """One sentence per group of the other varying parameters (a regime):
    the change of free 2 MiB blocks per GiB with balloon compaction, while
    the balloons are inflated and after they are returned, against the
    pre-seed kernel, with the 95% intervals over seeds. A phase one world
    never reaches is said in words, with the world that misses it.

    When ``kernel.era`` varies, the sentences come per era, as (heading,
    sentences) with the era left out of each sentence's group; otherwise one
    (None, sentences)."""
    by_group: dict[str, dict[str, dict]] = {}
    for e in a.effect:
        by_group.setdefault(e["group"], {})[e["metric"]] = e
    out: dict[str | None, list[str]] = {}
    for group, metrics in by_group.items():
        inflated = metrics.get("free_2mib_per_gib_inflated")
        returned = metrics.get("free_2mib_per_gib_returned")
        if not inflated or not returned:
            continue
        heading, label = None, group
        if ERA_KEY in a.varying:
            era = f"{ERA_KEY}={inflated['group_params'].get(ERA_KEY)}"
            heading = f"Linux {inflated['group_params'].get(ERA_KEY)} era ({era})"
            label = ", ".join(part for part in group.split(", ") if part != era) or "all runs"
        out.setdefault(heading, []).append(_sentence(a, label, inflated, returned))
    return list(out.items())


def headline_text(a: Analysis) -> str:
    """The headline sentences as ``fleet analyze --headline`` prints them:
    under each era's heading, its sentences indented."""
    blocks = []
    for heading, sentences in headline_sentences(a):
        if heading is None:
            blocks.append("\n".join(sentences))
        else:
            blocks.append(f"{heading}:\n" + "\n".join(f"  {s}" for s in sentences))
    return "\n\n".join(blocks) + "\n" if blocks else "(no inflated and returned phases to compare)\n"
