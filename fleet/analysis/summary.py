"""The runs table's metrics as a run's rows stream by: the registry's metrics
with a column (RUNS_TABLE_METRICS), reduced and combined as `fleet analyze`
does (metrics.py), without DuckDB."""

from collections.abc import Iterable
from typing import Any

from .metrics import RUNS_TABLE_METRICS, GuestMean, Row, Sampled


class RunningMean:
    """The mean of a value over all the rows of a run. A GuestMean's mean over
    guests of each guest's mean equals it, as every guest has a row at every
    sample time; summed in row order, as the runs table always was."""

    def __init__(self, value: Sampled):
        self.value = value
        self.total = 0.0
        self.rows = 0

    def add(self, row: Row) -> None:
        self.total += self.value.of_row(row)
        self.rows += 1

    def mean(self) -> float:
        return self.total / self.rows


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
