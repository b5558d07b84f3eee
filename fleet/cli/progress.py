"""Progress of `fleet run` and `fleet sweep` on stderr, fed by fleet.runner.run_all's callbacks.

On a terminal: a rich display of two bars, the runs done of the total (an
interrupted sweep's committed runs count as done) and the current run's
simulated seconds of its duration, each with its elapsed and remaining
time; the runs' remaining time is the session's pace so far (runs done,
the current one's share included, per second) applied to what is left. Elsewhere (a pipe, a
file, CI logs): one plain line per finished run, nothing per chunk.

Lines for stdout while the display runs (the per-run summaries, `summary`)
go above it when stdout is a terminal too; the display is stopped before an
error or the interrupt message is printed (leave the with-block first).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn, TimeRemainingColumn

Clock = Callable[[], float]


def clock_text(seconds: float) -> str:
    """H:MM:SS, as rich's time columns print it."""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


class RunProgress:
    """The progress of a sequence of runs; a context manager (the display
    starts with the first run and stops on leaving the block).

    `announce(total, skipped)` before the first run; `start(label,
    duration_s)` gives the engine's per-chunk callback (simulated seconds
    done, duration); `finished()` after each run. `console` (default: on
    stderr) decides the mode: rich's idea of a terminal (a tty, or forced)."""

    def __init__(
        self,
        console: Console | None = None,
        *,
        clock: Clock = time.monotonic,
        auto_refresh: bool = True,
        redirect_stdout: bool | None = None,
    ):
        self.console = console or Console(stderr=True)
        self.terminal = self.console.is_terminal
        self.clock = clock
        self.total = 0
        self.done = 0  # runs finished, the skipped ones included
        self.skipped = 0
        self.started = clock()
        self.run_label = ""
        self.run_started = self.started
        self.duration_s = 0
        self.progress: Progress | None = None
        self.redirect_stdout = sys.stdout.isatty() if redirect_stdout is None else redirect_stdout
        self._live = False
        self._runs = self._run = TaskID(0)
        if self.terminal:
            self.progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.fields[count]}"),
                TextColumn("elapsed"),
                TimeElapsedColumn(),
                TextColumn("left"),
                TimeRemainingColumn(),
                console=self.console,
                auto_refresh=auto_refresh,
                speed_estimate_period=7 * 24 * 3600.0,  # the pace over the whole session
                redirect_stdout=self.redirect_stdout,  # stray prints too
                redirect_stderr=False,
                get_time=clock,
            )

    def __enter__(self) -> RunProgress:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop the display (its last state stays on the terminal); idempotent."""
        if self.progress is not None and self._live:
            self.progress.stop()
            self._live = False

    def note(self, line: str) -> None:
        """A line on stderr (above the display while it runs)."""
        if self._live and self.progress is not None:
            self.progress.console.print(line, markup=False, highlight=False)
        else:
            print(line, file=self.console.file, flush=True)

    def summary(self, line: str) -> None:
        """A line for stdout. While the display runs on the terminal that
        stdout is too, it goes above the display, unwrapped."""
        if self._live and self.progress is not None and self.redirect_stdout:
            self.progress.console.print(line, markup=False, highlight=False, emoji=False, soft_wrap=True)
        else:
            print(line, flush=True)

    def announce(self, total: int, skipped: int = 0) -> None:
        self.total, self.skipped, self.done = total, skipped, skipped

    def _runs_count(self) -> str:
        return f"{self.done}/{self.total} runs"

    def start(self, label: str, duration_s: int) -> Callable[[int, int], None]:
        """A run begins; returns the callback of its simulated seconds."""
        self.run_label, self.duration_s, self.run_started = label, duration_s, self.clock()
        p = self.progress
        if p is not None:
            count = f"0/{duration_s} simulated s"
            if not self._live:
                self._runs = p.add_task("runs", total=self.total, completed=self.done, count=self._runs_count())
                self._run = p.add_task(label, total=duration_s, count=count)
                self._anchor(self._runs, self.done)
                p.start()
                self._live = True
            else:
                p.reset(self._run, total=duration_s, completed=0, description=label, count=count)
            self._anchor(self._run, 0)
            p.refresh()
        return self.advance

    def _anchor(self, task: TaskID, completed: float) -> None:
        """Record a speed sample now: rich estimates the remaining time from
        the samples after the first one, so the first chunk counts too."""
        assert self.progress is not None
        self.progress.update(task, completed=completed + 1e-9)

    def advance(self, done_s: int, duration_s: int) -> None:
        """The engine's progress callback: `done_s` simulated seconds of the current run."""
        p = self.progress
        if p is None:
            return  # plain mode: nothing per chunk
        p.update(self._run, completed=done_s, total=duration_s, count=f"{done_s}/{duration_s} simulated s")
        p.update(self._runs, completed=self.done + done_s / max(1, duration_s), count=self._runs_count())
        p.refresh()

    def finished(self) -> None:
        """The current run is committed."""
        self.done += 1
        now = self.clock()
        if self.progress is not None:
            self.progress.update(self._runs, completed=self.done, count=self._runs_count())
            self.progress.refresh()
            return
        elapsed = now - self.started
        line = (
            f"[{self.done}/{self.total}] {self.run_label}: {self.duration_s} simulated s in "
            f"{now - self.run_started:.1f} s; {self.done} of {self.total} runs done, {clock_text(elapsed)} elapsed"
        )
        ran = self.done - self.skipped
        if self.done < self.total and ran > 0:
            line += f", about {clock_text(elapsed / ran * (self.total - self.done))} left"
        print(line, file=self.console.file, flush=True)
