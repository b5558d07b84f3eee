"""The runs table's metrics as a run's rows stream by: the registry's metrics
with a column (RUNS_TABLE_METRICS), reduced and combined as `fleet analyze`
does (metrics.py), without DuckDB; and the hosts' totals (HostSummary)."""

from collections.abc import Iterable
from typing import Any

from .metrics import RUNS_TABLE_METRICS, GuestMean, Row, Sampled, nan_mean


class RunningMean:
    """A GuestMean as rows stream by: per guest the mean of a value over its
    rows, then the mean over guests (a guest the host's OOM killer killed
    has fewer rows than the others)."""

    def __init__(self, value: Sampled):
        self.value = value
        self.sums: dict[tuple[int, int], list[float]] = {}  # (host, guest) -> [total, rows]

    def add(self, row: Row) -> None:
        acc = self.sums.setdefault((row["host"], row["guest"]), [0.0, 0])
        acc[0] += self.value.of_row(row)
        acc[1] += 1

    def mean(self) -> float:
        return nan_mean(total / rows for total, rows in self.sums.values())


class RunSummary:
    """The runs-table metrics (RUNS_TABLE_METRICS), kept up to date as rows
    stream by: each guest's last row, and a running mean per GuestMean."""

    def __init__(self):
        self.last: dict[tuple[int, int], Row] = {}
        self.means: dict[str, RunningMean] = {
            m.name: RunningMean(m.value) for m in RUNS_TABLE_METRICS if isinstance(m, GuestMean)
        }

    def add(self, rows: Iterable[Row]) -> None:
        for r in rows:
            self.last[(r["host"], r["guest"])] = r
            for mean in self.means.values():
                mean.add(r)

    def metrics(self) -> dict[str, Any]:
        """The runs-table columns (none before the first row)."""
        if not self.last:
            return {}
        last = list(self.last.values())
        return {
            m.column: self.means[m.name].mean() if isinstance(m, GuestMean) else m.of_last_rows(last)
            for m in RUNS_TABLE_METRICS
            if m.column  # always: RUNS_TABLE_METRICS are the metrics with a column
        }


class HostSummary:
    """The runs table's host columns from the `hosts` rows as they stream
    by: `oom_kills` and `host_swap_out_bytes`, each host's last (cumulative)
    value summed over hosts."""

    def __init__(self) -> None:
        self.last: dict[int, Row] = {}

    def add(self, rows: Iterable[Row]) -> None:
        for r in rows:
            self.last[r["host"]] = r

    def metrics(self) -> dict[str, int]:
        rows = self.last.values()
        return {
            "oom_kills": sum(r["host_oom_kills"] for r in rows),
            "host_swap_out_bytes": sum(r["host_swap_out_bytes"] for r in rows),
        }
