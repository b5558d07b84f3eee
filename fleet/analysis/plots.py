"""`fleet plot`: PNG figures of a results folder, one per figure.

* ``free_2mib_blocks.png``: free 2 MiB blocks per guest (mean over guests,
  then over seeds) against time, a line per variant.
* ``buddyinfo_heatmap.png``: a panel per variant, order 0..10 (y) x time (x),
  colour = mean free blocks of that order per guest (mean over guests and
  seeds), log scale: /proc/buddyinfo over time.
* ``host_memory.png``: host free memory (the hosts' capacity ``hosts.count *
  hosts.memory`` from the runs table minus the sum over hosts of their
  guests' ``host_populated_pages * 4096``) and the total balloon size (sum
  over all guests of ``balloon_pages * 4096``) against time, per variant.
* ``success.png``: bars per variant of THP fault success % and
  stress-highalloc success % per pass (see :mod:`fleet.analysis.metrics`), with the
  standard deviation over seeds as error bars.

* ``map_free_2mib.png``, ``map_thp_fallback.png`` (ab-map-like folders
  only, see :mod:`fleet.analysis.grid`): balloon compaction on - off per
  grid cell, free 2 MiB blocks per GiB and the THP probe's fault fallback %,
  a heat map per moment (rows of panels) and per group of the other varying
  parameters, e.g. the era (columns). Cells: hole pattern and memory in use
  (y) x balloon size and holes (x); a diverging palette centred on zero,
  blue where balloon compaction does better (more free blocks, less
  fallback); a dot where the 95% interval over seed pairs includes zero (or
  there are fewer than two pairs), hatching where a balloon fell short of
  its target, grey where there is no value.

Variants, seeds and metrics are those of :func:`fleet.analysis.analyze`.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

from ..memory.constants import PAGE_SIZE
from ..units import MIB
from .grid import MAP_VALUES, MOMENT_LABELS, MOMENTS, PROBE_FALLBACK, MapEntry, map_entries
from .load import loaded
from .metrics import FREE_2MIB_PER_GIB, NAN, isnan, metric_label, nan_mean

__all__ = ["FIGURES", "plot_results"]

MAP_FIGURES = {FREE_2MIB_PER_GIB.name: "map_free_2mib.png", PROBE_FALLBACK.name: "map_thp_fallback.png"}
FIGURES = ("free_2mib_blocks.png", "buddyinfo_heatmap.png", "host_memory.png", "success.png", *MAP_FIGURES.values())
NR_ORDERS = 11

_SERIES_SQL = """
select experiment, run, time_s,
       avg(free_2mib_blocks),
       sum(balloon_pages) * {page}.0,
       sum(host_populated_pages) * {page}.0,
       {orders}
from samples
group by experiment, run, time_s
order by experiment, run, time_s
"""


def _series(res, variants):
    """Per variant label: {time_s: dict of seed-averaged values}."""
    orders = ", ".join(f"avg(free_blocks_o{o})" for o in range(NR_ORDERS))
    per_run: dict[tuple[str, str], dict[int, tuple]] = {}
    for row in res.query(_SERIES_SQL.format(page=PAGE_SIZE, orders=orders)):
        per_run.setdefault((row[0], row[1]), {})[int(row[2])] = row[3:]
    out = {}
    for v in variants:
        times = sorted({t for r in v.runs for t in per_run.get(r.key, {})})
        series = {"time": times, "free2m": [], "balloon": [], "host_free": [], "orders": []}
        for t in times:
            vals = [(r, per_run[r.key][t]) for r in v.runs if t in per_run.get(r.key, {})]
            series["free2m"].append(nan_mean(x[0] for _, x in vals))
            series["balloon"].append(nan_mean(x[1] for _, x in vals))
            free = []
            for r, x in vals:
                mem, count = r.params.get("hosts.memory"), r.params.get("hosts.count")
                if isinstance(mem, (int, float)) and isinstance(count, (int, float)) and x[2] is not None:
                    free.append(count * mem - x[2])
            series["host_free"].append(nan_mean(free))
            series["orders"].append([nan_mean(x[3 + o] for _, x in vals) for o in range(NR_ORDERS)])
        out[v.label] = series
    return out


def _minutes(times):
    return [t / 60.0 for t in times]


def plot_results(out_dir: str | Path, to: str | Path) -> list[Path]:
    """Write the PNGs of FIGURES into `to` (created; the map figures only for
    an ab-map-like folder); returns their paths. Raises ResultsError for a
    damaged or partial results folder."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    with loaded(out_dir) as (res, metrics, variants):
        series = _series(res, variants)
        entries = map_entries(res)
    to = Path(to)
    to.mkdir(parents=True, exist_ok=True)
    written = []
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    color_of = {v.label: colors[i % len(colors)] for i, v in enumerate(variants)}
    # Line styles too, so that variants whose lines coincide stay visible.
    styles = ["-", "--", ":", "-."]
    style_of = {
        v.label: dict(color=color_of[v.label], linestyle=styles[i % len(styles)], linewidth=1.8)
        for i, v in enumerate(variants)
    }
    where = str(res.out)

    def legend_below(fig, ax, n):
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=1 if n > 3 else n, fontsize=8, frameon=False)

    # 1. free 2 MiB blocks over time
    fig, ax = plt.subplots(figsize=(9, 5.5), layout="constrained")
    for v in variants:
        s = series[v.label]
        ax.plot(_minutes(s["time"]), s["free2m"], label=f"{v.label} ({len(v.runs)} seeds)", **style_of[v.label])
    ax.set_title(f"Free 2 MiB blocks per guest over time\n(mean over guests and seeds; {where})")
    ax.set_xlabel("simulated time (min)")
    ax.set_ylabel("free 2 MiB blocks per guest (blocks)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    legend_below(fig, ax, len(variants))
    written.append(_save(fig, to / FIGURES[0], plt))

    # 2. buddyinfo heat map
    n = len(variants)
    cols = 1 if n == 1 else 2
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(7 * cols, 3.4 * rows + 0.8), squeeze=False, layout="constrained")
    positive = [x for s in series.values() for col in s["orders"] for x in col if x == x and x > 0]
    vmin = max(min(positive), 0.1) if positive else 0.1
    vmax = max(max(positive), vmin * 10) if positive else 1.0
    norm = LogNorm(vmin=vmin, vmax=vmax)
    base = matplotlib.colormaps["viridis"]
    cmap = base.with_extremes(bad="white", under="0.85")  # grey: no free block of the order
    mesh = None
    for i, v in enumerate(variants):
        ax = axes[i // cols][i % cols]
        s = series[v.label]
        t = _minutes(s["time"])
        if not t:
            ax.set_axis_off()
            continue
        step = (t[1] - t[0]) if len(t) > 1 else 1.0
        edges = [t[0] - step / 2] + [(a + b) / 2 for a, b in zip(t, t[1:])] + [t[-1] + step / 2]
        z = [
            [
                max(s["orders"][j][o], 0.0) if s["orders"][j][o] == s["orders"][j][o] else float("nan")
                for j in range(len(t))
            ]
            for o in range(NR_ORDERS)
        ]
        z = [[x if x > 0 else vmin * 0.5 for x in row] for row in z]  # zero: the "under" colour
        mesh = ax.pcolormesh(edges, [o - 0.5 for o in range(NR_ORDERS + 1)], z, norm=norm, cmap=cmap, shading="flat")
        ax.set_title(v.label, fontsize=9)
        ax.set_xlabel("simulated time (min)")
        ax.set_ylabel("order (block = 4 KiB x 2^order)")
        ax.set_yticks(range(NR_ORDERS))
    for j in range(n, rows * cols):
        axes[j // cols][j % cols].set_axis_off()
    if mesh is not None:
        fig.colorbar(mesh, ax=axes, label="free blocks per guest (log scale)", extend="min")
    fig.suptitle(
        f"Free blocks by order over time (/proc/buddyinfo; mean over guests and seeds; grey: none free)\n{where}"
    )
    written.append(_save(fig, to / FIGURES[1], plt))

    # 3. host free memory and balloon sizes
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(9, 7.5), sharex=True, layout="constrained")
    missing_hosts = False
    for v in variants:
        s = series[v.label]
        t = _minutes(s["time"])
        c = style_of[v.label]
        if all(x != x for x in s["host_free"]):
            missing_hosts = True
        else:
            ax1.plot(t, [x / MIB for x in s["host_free"]], label=v.label, **c)
        ax2.plot(t, [x / MIB for x in s["balloon"]], label=v.label, **c)
    ax1.set_title(
        "Host free memory (hosts' capacity - guest memory the hosts back), all hosts"
        + ("\n(hosts.memory/hosts.count missing from the runs table for some variants)" if missing_hosts else "")
    )
    ax1.set_ylabel("host free memory (MiB)")
    ax1.grid(alpha=0.3)
    ax2.set_title("Total balloon size, all guests")
    ax2.set_ylabel("balloon size (MiB)")
    ax2.set_xlabel("simulated time (min)")
    ax2.set_ylim(bottom=0)
    ax2.grid(alpha=0.3)
    legend_below(fig, ax2, len(variants))
    fig.suptitle(f"Host memory and balloons over time (mean over seeds; {where})")
    written.append(_save(fig, to / FIGURES[2], plt))

    # 4. THP and high-order success
    bars = ["thp_fault_success_pct"] + [m for m in metrics if m.startswith("highalloc_pass")]
    fig, ax = plt.subplots(figsize=(max(7, 1.8 * len(bars) * max(1, n) / 2 + 3), 5.5), layout="constrained")
    width = 0.8 / max(1, n)
    nothing = True
    for i, v in enumerate(variants):
        xs, ys, errs = [], [], []
        for j, m in enumerate(bars):
            got = [r.metrics.get(m) for r in v.runs]
            vals = [x for x in got if x is not None and x == x]
            xs.append(j - 0.4 + width * (i + 0.5))
            if vals:
                nothing = False
                mean = sum(vals) / len(vals)
                sd = math.sqrt(sum((x - mean) ** 2 for x in vals) / (len(vals) - 1)) if len(vals) > 1 else 0.0
            else:
                mean, sd = 0.0, 0.0
            ys.append(mean)
            errs.append(sd)
        ax.bar(xs, ys, width=width * 0.95, yerr=errs, capsize=3, color=color_of[v.label], label=v.label)
        for x, y, sd, m in zip(xs, ys, errs, bars):
            defined = [
                r.metrics.get(m)
                for r in v.runs
                if r.metrics.get(m) == r.metrics.get(m) and r.metrics.get(m) is not None
            ]
            ax.annotate(
                "n/a" if not defined else f"{y:.0f}",
                (x, y + sd),
                ha="center",
                va="bottom",
                fontsize=7,
                xytext=(0, 2),
                textcoords="offset points",
            )
    ax.set_xticks(range(len(bars)))
    ax.set_xticklabels([metric_label(m).replace(" success %", "") for m in bars])
    ax.set_ylabel("success (%)")
    ax.set_ylim(0, 110)
    ax.set_title(
        "THP fault and stress-highalloc success per variant\n"
        "(mean over seeds; error bars: sd over seeds; n/a: no attempts)"
    )
    if nothing:
        ax.text(
            0.5,
            0.5,
            "no THP faults and no stress-highalloc passes in these runs",
            transform=ax.transAxes,
            ha="center",
            va="center",
            fontsize=10,
            color="0.4",
        )
    ax.grid(axis="y", alpha=0.3)
    legend_below(fig, ax, len(variants))
    written.append(_save(fig, to / FIGURES[3], plt))
    if entries:
        for value, name in MAP_FIGURES.items():
            written.append(_save(_map_figure(entries, value, where, plt), to / name, plt))
    return written


def _save(fig, path: Path, plt) -> Path:
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _share(x: float) -> str:
    """A share as a small fraction (1/8, 3/8) when it is one, else a percentage."""
    f = Fraction(x).limit_denominator(16)
    return f"{f.numerator}/{f.denominator}" if abs(float(f) - x) < 1e-9 and f.denominator > 1 else f"{100 * x:g}%"


def _map_figure(entries: list[MapEntry], value: str, where: str, plt):
    """One map figure (see the module docstring) of `value` (a key of
    grid.MAP_VALUES): a row of panels per moment, a column per group."""
    from matplotlib.colors import TwoSlopeNorm
    from matplotlib.patches import Rectangle

    entries = [e for e in entries if e.value == value]
    groups = list(dict.fromkeys(e.group for e in entries))
    rows = sorted({(e.cell.pattern, e.cell.in_use) for e in entries})
    cols = sorted({(e.cell.balloon, e.cell.holes) for e in entries})
    at = {(e.group, e.moment, (e.cell.pattern, e.cell.in_use), (e.cell.balloon, e.cell.holes)): e for e in entries}
    worse_up = value == PROBE_FALLBACK.name  # more fallback is worse: red up
    finite = [abs(e.stats["mean_diff"]) for e in entries if not isnan(e.stats["mean_diff"])]
    top = max(finite, default=0.0) or 1.0
    norm = TwoSlopeNorm(vmin=-top, vcenter=0.0, vmax=top)
    cmap = plt.get_cmap("RdBu_r" if worse_up else "RdBu").with_extremes(bad="0.85")
    fig, axes = plt.subplots(
        len(MOMENTS),
        len(groups),
        figsize=(0.5 * len(cols) * len(groups) + 3.2, 0.42 * len(rows) * len(MOMENTS) + 2.2),
        squeeze=False,
        sharex=True,
        sharey=True,
        layout="constrained",
    )
    mesh = None
    for mi, moment in enumerate(MOMENTS):
        for gi, group in enumerate(groups):
            ax = axes[mi][gi]
            z = [[NAN] * len(cols) for _ in rows]
            for r, row in enumerate(rows):
                for c, col in enumerate(cols):
                    e = at.get((group, moment, row, col))
                    if e is None:
                        continue
                    d, lo, hi = e.stats["mean_diff"], e.stats["ci_low"], e.stats["ci_high"]
                    z[r][c] = d
                    if e.short:
                        ax.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, hatch="////", ec="0.4", lw=0))
                    if isnan(d):
                        continue
                    ink = "white" if abs(d) > 0.6 * top else "black"
                    text = "0" if round(d, 1) == 0 else f"{d:+.0f}" if abs(d) >= 9.95 else f"{d:+.1f}"
                    ax.text(c, r - 0.1, text, ha="center", va="center", fontsize=7, color=ink)
                    if isnan(lo) or lo <= 0 <= hi:
                        ax.plot(c, r + 0.28, "o", ms=2.4, color=ink)
            mesh = ax.imshow(z, cmap=cmap, norm=norm, aspect="auto", origin="lower", interpolation="nearest")
            for c in range(1, len(cols)):
                if cols[c][0] != cols[c - 1][0]:
                    ax.axvline(c - 0.5, color="black", lw=1.2)
            for r in range(1, len(rows)):
                if rows[r][0] != rows[r - 1][0]:
                    ax.axhline(r - 0.5, color="black", lw=1.2)
            ax.set_xticks(range(len(cols)))
            ax.set_xticklabels([_share(h) for _, h in cols], fontsize=7.5)
            ax.set_yticks(range(len(rows)))
            ax.set_yticklabels([f"{row[0]}, {100 * row[1]:g}% used" for row in rows], fontsize=7.5)
            ax.tick_params(length=2, pad=2)
            if mi == 0:
                ax.set_title(group, fontsize=10)
            if gi == 0:
                ax.set_ylabel(f"{MOMENT_LABELS[moment]}\nhole pattern, memory in use", fontsize=9)
            if mi == len(MOMENTS) - 1:
                for balloon in dict.fromkeys(b for b, _ in cols):
                    span = [c for c, col in enumerate(cols) if col[0] == balloon]
                    ax.text(
                        (span[0] + span[-1]) / 2,
                        -0.1,
                        f"balloon {_share(balloon)}",
                        ha="center",
                        va="top",
                        fontsize=8,
                        transform=ax.get_xaxis_transform(),
                    )
    fig.supxlabel(
        "holes (share of the memory in use freed before the balloon inflates), per balloon size (share of RAM)",
        fontsize=9,
    )
    label = MAP_VALUES[value]
    if mesh is not None:
        better = "less fallback" if worse_up else "more free blocks"
        fig.colorbar(mesh, ax=axes, shrink=0.5, label=f"on - off: {label}\n(blue: {better} with balloon compaction)")
    grey = "\ngrey: no value (a probe needs memory free above the high watermark); " if worse_up else "; "
    fig.suptitle(
        f"Balloon compaction on - off: {label}\nmean over seed pairs; dot: its 95% interval includes 0; "
        f"hatched: a balloon short of its target{grey}{where}",
        fontsize=9.5,
    )
    return fig
