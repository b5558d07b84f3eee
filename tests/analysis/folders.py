"""Small hand-made results folders for the analysis tests; their expected
numbers are computed by hand in the comments."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pyarrow as pa

from fleet.cli import main
from fleet.guest import samples_schema
from fleet.results import RunWriter
from fleet.units import GIB

SCHEMA = samples_schema()


def sample(t, host=0, guest=0, memory=GIB, metrics=None, **values) -> dict[str, Any]:
    """A samples row: zeros everywhere but what is given."""
    row = {f.name: 0 for f in SCHEMA if f.name != "workload_metrics"}
    row.update(time_s=t, host=host, guest=guest, memory_bytes=memory)
    row.update(values)
    row["workload_metrics"] = sorted((metrics or {}).items())
    return row


def commit(
    out,
    run_id,
    rows,
    *,
    seed,
    compaction=True,
    workload="mix",
    experiment="t",
    hosts=1,
    host_memory=2 * GIB,
    regime=None,
    params=None,
    columns=None,
    era="6.x",
    entry=None,
) -> None:
    """Commit one run of `rows`; `columns` are more runs-table columns,
    `entry` more of its manifest entry."""
    with RunWriter(out, experiment, run_id, SCHEMA) as w:
        w.write_samples(pa.Table.from_pylist(rows, schema=SCHEMA))
        w.commit(
            {
                "experiment": {"name": experiment, "seed": seed, **({"regime": regime} if regime else {})},
                **({"guests[0].workload_params": params} if params else {}),
                "kernel": {"era": era, "balloon_compaction": compaction},
                "hosts": {"count": hosts, "memory": host_memory},
                "guests[0]": {"workload": workload},
                **(columns or {}),
                "wall_s": 1.0,
            },
            {"seed": seed, **(entry or {})},
        )


def flat_run(out, run_id, free_blocks, *, seed, compaction, workload, times=(10, 20, 30)) -> None:
    """One 1 GiB guest with a constant number of free 2 MiB blocks: every
    free-blocks-per-GiB metric of the run equals `free_blocks`."""
    rows = [
        sample(
            t,
            free_2mib_blocks=free_blocks,
            balloon_pages=100 * (i + 1),
            host_populated_pages=1000,
            thp_fault_alloc=free_blocks,
            thp_fault_fallback=100 - free_blocks,
            free_blocks_o0=5,
            free_blocks_o9=free_blocks,
        )
        for i, t in enumerate(times)
    ]
    commit(out, run_id, rows, seed=seed, compaction=compaction, workload=workload)


# free 2 MiB blocks of each (workload, compaction) per seed
GRID = {
    ("mix", False): {1: 10, 2: 12, 3: 14},
    ("mix", True): {1: 11, 2: 15, 3: 14},  # diffs 1, 3, 0
    ("server", False): {1: 20, 2: 20},
    ("server", True): {1: 25, 2: 27, 3: 30},  # diffs 5, 7; seed 3 has no off-run
}


def grid_folder(out: Path) -> Path:
    for (workload, on), seeds in GRID.items():
        for seed, value in seeds.items():
            flat_run(out, f"{workload}_{on}_seed={seed}", value, seed=seed, compaction=on, workload=workload)
    return out


def eras_folder(out: Path, entry=None) -> Path:
    """Kernel era 3.8 and 6.x x balloon compaction off and on x seeds 1, 2;
    one 1 GiB guest per run whose balloon peaks at 200 pages (inflated at
    20 s and 30 s) and is returned at 40 s, but in the 3.8 era's pre-seed
    world, which keeps it. Free 2 MiB blocks: 10 + seed, plus 3 with
    balloon compaction and 1 in era 6.x (inflated on - off = 3 everywhere)."""
    for era in ("3.8", "6.x"):
        for on in (False, True):
            balloon = [0, 100, 200, 200] if era == "3.8" and not on else [0, 100, 200, 0]
            for seed in (1, 2):
                free = 10 + seed + 3 * on + (era == "6.x")
                rows = [sample(10 * (i + 1), free_2mib_blocks=free, balloon_pages=b) for i, b in enumerate(balloon)]
                commit(out, f"era={era}_{on}_seed={seed}", rows, seed=seed, compaction=on, era=era, entry=entry)
    return out


def phases_rows() -> list[dict[str, Any]]:
    """One run, two guests on two hosts, in (time, host, guest) order.

    guest 0 (1 GiB): balloon 0,100,200,150,10,0 -> P = 200; inflated (>= 100)
    at t = 20, 30, 40; returned (<= 20, after t = 40) at t = 50, 60.
    free blocks 8,6,2,4,5,7: mean 32/6, end 7, inflated (6+2+4)/3 = 4,
    returned (5+7)/2 = 6.
    guest 1 (2 GiB): no balloon; free blocks 10 x5 then 12 -> per GiB 5 x5
    then 6: mean 31/6, end 6, no phases.
    """
    balloon = [0, 100, 200, 150, 10, 0]
    free0 = [8, 6, 2, 4, 5, 7]
    free1 = [10, 10, 10, 10, 10, 12]
    rows = []
    for i, t in enumerate(range(10, 70, 10)):
        last = i == 5
        m0 = {"pass1_success_pct": 50.0 + 6 * i, "pass2_success_pct": math.nan, "allocated_pages": 1.0}
        m1 = {
            "highalloc.pass1_success_pct": 60.0 if last else 99.0,
            "highalloc.pass2_success_pct": 30.0 if last else math.nan,
            "highalloc.pass1_attempts": 7.0,
            "build.refused_pages": 3.0,
        }
        rows.append(
            sample(
                t,
                0,
                0,
                GIB,
                m0,
                free_2mib_blocks=free0[i],
                balloon_pages=balloon[i],
                host_populated_pages=1000 + i,
                thp_fault_alloc=30 if last else i,
                thp_fault_fallback=10 if last else 0,
                balloon_migrate=5 if last else i,
                pgmigrate_success=100 if last else i,
                host_thp_split_pmd=3 if last else 0,
            )
        )
        rows.append(
            sample(
                t,
                1,
                1,
                2 * GIB,
                m1,
                free_2mib_blocks=free1[i],
                host_populated_pages=2000,
                thp_fault_alloc=10 if last else i,
                thp_fault_fallback=50 if last else 0,
                balloon_migrate=7 if last else 0,
                pgmigrate_success=50 if last else 0,
                host_thp_split_pmd=4 if last else 0,
            )
        )
    return rows


def run_cli(capsys, *args) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# The map folder (map_folder): 1 host, 2 holes guests of 1 GiB whose cells are
# (random, 50% used, 1/4 holes) and (strided, 90%, 1/2), balloons of 1/4 of RAM
# asked from 20 s to 70 s. Flags: punched from 10 s, left from 40 s, compacted
# from 60 s: moments inflated 20-30, left 40-50, compacted 60-70, deflated 80.
MAP_TIMES = (10, 20, 30, 40, 50, 60, 70, 80)
MAP_TARGET = (1 << 18) // 4  # pages: 1/4 of 1 GiB
# free 2 MiB blocks per (guest, on) and seed, at each moment (before, inflated, left, compacted, deflated);
# guest 1's balloon reaches only 90% of its target when off (a short cell)
MAP_FREE = {
    (0, False): {1: (100, 50, 60, 70, 90), 2: (100, 52, 62, 70, 90)},
    (0, True): {1: (100, 60, 40, 70, 88), 2: (100, 63, 40, 72, 92)},  # inflated +10.5, left -21, deflated 0
    (1, False): {1: (20, 5, 5, 5, 20), 2: (20, 5, 5, 5, 20)},
    (1, True): {1: (20, 4, 5, 6, 20), 2: (20, 6, 5, 4, 20)},  # compacted +1, -1: an interval around 0
}


def map_folder(out: Path) -> Path:
    moment_of = dict(zip(MAP_TIMES, (0, 1, 1, 2, 2, 3, 3, 4)))
    groups = [
        {
            "count": 2,
            "memory": GIB,
            "balloon_min": 0,
            "workload": "holes",
            "workload_params": {
                "per_guest": {"pattern": ["random", "strided"], "in_use": [0.5, 0.9], "holes": [0.25, 0.5]}
            },
        }
    ]
    spec = {"hosts": {"count": 1, "memory": 4 * GIB}, "guests": groups}
    for on in (False, True):
        for seed in (1, 2):
            rows = []
            for t in MAP_TIMES:
                inflated = 20 <= t <= 70
                for g in (0, 1):
                    flags = {"punched": 1.0, "left": float(t >= 40), "compacted": float(t >= 60)}
                    flags["probe_thp_fallback_pct"] = 10.0 * g + (5.0 if on else 0.0)
                    reached = 0.9 if (g == 1 and not on) else 1.0
                    rows.append(
                        sample(
                            t,
                            0,
                            g,
                            GIB,
                            flags,
                            free_2mib_blocks=MAP_FREE[(g, on)][seed][moment_of[t]],
                            balloon_target_pages=MAP_TARGET if inflated else 0,
                            balloon_pages=int(MAP_TARGET * reached) if inflated else 0,
                        )
                    )
            with RunWriter(out, "m", f"on={on}_seed={seed}", SCHEMA) as w:
                w.write_samples(pa.Table.from_pylist(rows, schema=SCHEMA))
                w.commit(
                    {
                        "experiment": {"name": "m", "seed": seed},
                        "kernel": {"era": "6.x", "balloon_compaction": on},
                        "hosts": {"count": 1, "memory": 4 * GIB},
                        "guests[0]": {"workload": "holes"},
                        "wall_s": 1.0,
                    },
                    {"seed": seed, "spec": spec},
                )
    return out
