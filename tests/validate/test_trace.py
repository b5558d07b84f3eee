"""`fleet validate trace`: the guest sampler (bfhelper sample, run on this
machine's /proc), the parsing of its output and the command's refusals."""

import subprocess
import time
from importlib import resources

import pytest

from fleet.cli import main
from fleet.validate.trace import parse_samples

GOOD = '[scenario]\nmemory = "1GiB"\nsteps = ["fill anon=100MiB", "thp 64MiB", "compact"]\n'


@pytest.fixture(scope="module")
def bfhelper(tmp_path_factory):
    src = resources.files("fleet.validate").joinpath("guest").joinpath("bfhelper.c")
    exe = tmp_path_factory.mktemp("bfhelper") / "bfhelper"
    subprocess.run(["gcc", "-O2", "-Wall", "-Werror", "-o", str(exe), str(src)], check=True)
    return exe


def _sample(bfhelper, directory, zone, *fields):
    """Run the sampler for about 0.1 s; returns its parsed output."""
    proc = subprocess.Popen(
        [str(bfhelper), "sample", "5", zone, str(directory), *fields], stdout=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 10
    while not (directory / "ready").exists():
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.01)
    time.sleep(0.1)
    (directory / "stop").touch()
    out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0
    return parse_samples(out)


def test_the_sampler_reads_vmstat_buddyinfo_and_zoneinfo_until_told_to_stop(bfhelper, tmp_path):
    zone = open("/proc/buddyinfo").readline().split()[3]
    names, rows, full = _sample(bfhelper, tmp_path, zone, "nr_free_pages", "pgfault", "no_such_counter")
    assert names == ["t", "nr_free_pages", "pgfault", "no_such_counter"] + [f"o{o}" for o in range(11)] + ["pcp"]
    assert rows and not full
    assert all(r[1] > 0 and r[2] > 0 and r[3] == -1 for r in rows)  # a counter the kernel lacks reads -1
    assert all(sum(r[4:-1]) > 0 for r in rows)  # the zone's buddyinfo row was found
    assert all(r[-1] >= 0 for r in rows)  # and its pagesets in /proc/zoneinfo
    assert [r[0] for r in rows] == sorted(r[0] for r in rows)


def test_the_sampler_reads_minus_one_pcp_pages_for_a_zone_the_kernel_lacks(bfhelper, tmp_path):
    names, rows, _ = _sample(bfhelper, tmp_path, "NoSuch", "pgfault")
    assert names[-1] == "pcp" and rows and all(r[-1] == -1 and sum(r[2:-1]) == 0 for r in rows)


def test_the_sampler_refuses_bad_arguments(bfhelper, tmp_path):
    assert subprocess.run([str(bfhelper), "sample", "0", "DMA32", str(tmp_path), "pgfault"]).returncode == 2


def test_parse_samples_keeps_rows_and_says_when_the_buffer_filled():
    names, rows, full = parse_samples("t a o0\n0.0000 5 1\n0.0100 6 2\n# full\n")
    assert names == ["t", "a", "o0"] and rows == [[0.0, 5.0, 1.0], [0.01, 6.0, 2.0]] and full
    with pytest.raises(ValueError, match="wrong number of columns"):
        parse_samples("t a\n0.0 1 2\n")
    with pytest.raises(ValueError, match="no header"):
        parse_samples("bfhelper: usage\n")


@pytest.mark.parametrize(
    "args, words",
    [
        (["--steps", "4"], "no step 4; the scenario's steps are 1..3"),
        (["--steps", "2,x"], "--steps: expected step numbers"),
        (["--steps", "2", "--world", "both"], "--world must be one of off, on"),
        (["--steps", "2", "--interval-ms", "0"], "--interval-ms must be within 1..1000"),
    ],
)
def test_trace_refuses_a_bad_request_in_one_line_before_any_guest(tmp_path, capsys, args, words):
    sc = tmp_path / "s.toml"
    sc.write_text(GOOD)
    assert main(["validate", "trace", str(sc), "--out", str(tmp_path / "t.parquet"), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and "\n" not in err
    assert not (tmp_path / "t.parquet").exists()


def test_trace_without_kernels_says_to_run_setup(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BALLOONFLEET_VALIDATE_DIR", str(tmp_path / "cache"))
    sc = tmp_path / "s.toml"
    sc.write_text(GOOD)
    assert main(["validate", "trace", str(sc), "--steps", "2", "--out", str(tmp_path / "t.parquet")]) == 2
    assert "make validate-setup" in capsys.readouterr().err
    assert not (tmp_path / "t.parquet").exists()
