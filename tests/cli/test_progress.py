"""Progress of fleet run and fleet sweep (fleet/cli/progress.py): the rich
display on a (fake) terminal with a fake clock, and one plain line per
finished run of a real sweep whose stderr is not a terminal."""

import io
import re

from rich.console import Console

from fleet.cli import main
from fleet.cli.progress import RunProgress, clock_text

SPEC = """
[experiment]
name = "progress"
duration_s = 120
[hosts]
memory = "300MiB"
[policy]
name = "mom"
[[guests]]
count = 1
memory = "128MiB"
balloon_min = "64MiB"
[sweep]
seeds = [1, 2]
"""


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def terminal():
    buf = io.StringIO()
    return buf, Console(file=buf, force_terminal=True, width=120, color_system=None)


def last_frame(buf: io.StringIO) -> list[str]:
    """The display as last drawn: the text after the last cursor-up sequence, codes removed."""
    text = buf.getvalue().split("\x1b[1A")[-1]
    return [line for line in re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text).replace("\r", "").splitlines() if line]


def test_terminal_display_runs_done_simulated_seconds_elapsed_and_left():
    buf, console = terminal()
    clock = FakeClock()
    shown = RunProgress(console, clock=clock, auto_refresh=False, redirect_stdout=False)
    assert shown.terminal
    with shown:
        shown.announce(4, skipped=1)  # a resumed sweep: 1 of 4 runs already committed
        shown.note("smoke: 4 runs, 1 already done")
        tick = shown.start("seed=2", 600)
        for done in (60, 120, 180, 240, 300):
            clock.now += 10
            tick(done, 600)
        runs, run = last_frame(buf)
        assert runs.startswith("runs") and "1/4 runs" in runs
        assert "elapsed 0:00:50" in runs
        # half a run in 50 s: 2.5 runs left at that pace
        assert "left 0:04:10" in runs or "left 0:04:11" in runs
        assert run.startswith("seed=2") and "300/600 simulated s" in run
        assert "elapsed 0:00:50" in run and ("left 0:00:50" in run or "left 0:00:51" in run)

        clock.now += 50
        tick(600, 600)
        shown.finished()
        clock.now += 1
        tick = shown.start("seed=3", 600)
        clock.now += 10
        tick(60, 600)
        runs, run = last_frame(buf)
        assert "2/4 runs" in runs and "elapsed 0:01:51" in runs
        assert run.startswith("seed=3") and "60/600 simulated s" in run and "elapsed 0:00:10" in run
    assert "smoke: 4 runs, 1 already done" in buf.getvalue()
    assert buf.getvalue().endswith("\x1b[?25h")  # stopped: the cursor is shown again
    shown.stop()  # idempotent


def test_stop_before_the_interrupt_message():
    """Leaving the block (as Ctrl-C does) stops the display: what is printed
    after it is not overdrawn."""
    buf, console = terminal()
    shown = RunProgress(console, clock=FakeClock(), auto_refresh=False, redirect_stdout=False)
    try:
        with shown:
            shown.announce(2)
            shown.start("seed=1", 60)(30, 60)
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        console.print("fleet: interrupted; ...")
    assert not shown._live
    assert buf.getvalue().rstrip().endswith("fleet: interrupted; ...")


def test_summary_lines_go_above_the_display_unwrapped(capsys):
    """With stdout on the same terminal the per-run summary is printed above
    the display, on one line however wide; otherwise it goes to stdout."""
    long = "seed=1: free 2MiB blocks per GiB 11.07 mean, " + "x" * 150
    buf, console = terminal()
    with RunProgress(console, clock=FakeClock(), auto_refresh=False, redirect_stdout=True) as shown:
        shown.announce(1)
        shown.start("seed=1", 60)(60, 60)
        shown.summary(long)
        shown.finished()
    assert long in buf.getvalue() and capsys.readouterr().out == ""
    buf, console = terminal()
    with RunProgress(console, clock=FakeClock(), auto_refresh=False, redirect_stdout=False) as shown:
        shown.announce(1)
        shown.start("seed=1", 60)(60, 60)
        shown.summary(long)
    assert capsys.readouterr().out == long + "\n" and long not in buf.getvalue()


def test_plain_mode_one_line_per_finished_run():
    buf = io.StringIO()
    clock = FakeClock()
    shown = RunProgress(Console(file=buf), clock=clock)
    assert not shown.terminal
    with shown:
        shown.announce(3)
        for label in ["seed=1", "seed=2", "seed=3"]:
            tick = shown.start(label, 600)
            for done in (200, 400, 600):
                clock.now += 10
                tick(done, 600)
            shown.finished()
    lines = buf.getvalue().splitlines()
    assert lines == [
        "[1/3] seed=1: 600 simulated s in 30.0 s; 1 of 3 runs done, 0:00:30 elapsed, about 0:01:00 left",
        "[2/3] seed=2: 600 simulated s in 30.0 s; 2 of 3 runs done, 0:01:00 elapsed, about 0:00:30 left",
        "[3/3] seed=3: 600 simulated s in 30.0 s; 3 of 3 runs done, 0:01:30 elapsed",
    ]
    assert clock_text(3725) == "1:02:05"


def test_sweep_without_a_terminal_prints_a_line_per_run(ray_session, tmp_path, capsys):
    """A real two-run sweep (2 chunks each) with stderr captured: no carriage
    returns, nothing per chunk, one line per finished run; stdout as before."""
    spec = tmp_path / "progress.toml"
    spec.write_text(SPEC)
    out = tmp_path / "out"
    assert main(["sweep", str(spec), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "\r" not in captured.err and "\x1b" not in captured.err
    lines = captured.err.splitlines()
    assert lines[0] == "progress: 2 runs, 0 already done"
    assert [line.split(":")[0] for line in lines[1:]] == ["[1/2] seed=1", "[2/2] seed=2"]
    assert all("120 simulated s in" in line for line in lines[1:])
    assert "about" in lines[1] and "2 of 2 runs done" in lines[2]
    stdout = captured.out.splitlines()
    assert [line.split(":")[0] for line in stdout] == ["seed=1", "seed=2", "progress"]
    assert "free 2MiB blocks per GiB" in stdout[0] and stdout[2] == f"progress: 2 runs in {out}"
