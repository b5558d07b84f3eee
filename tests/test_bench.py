"""`fleet bench`: the memory and guest parts through the CLI with --quick, and
the fleet part's arithmetic. No timing is asserted, and the fleet part itself
is not run here (it starts Ray sessions of its own)."""

import json
import math
import subprocess
import sys

import pytest

from fleet.bench import fleet_figures
from fleet.cli import main

MACHINE_KEYS = ["machine", "cpu_model", "cpus", "memory_total_bytes", "python", "numba", "numpy", "ray"]
PART_KEYS = {
    "memory": [
        "alloc_free_ops_per_s",
        "mixed_order_ops_per_s",
        "compaction_pages_per_s",
        "compaction_migrated_pages_per_s",
        "compaction_scan_only_pages_per_s",
        "bytes_per_page",
    ],
    "guest": ["guest_realtime_factor", "guest_bench_simulated_s"],
}
DAEMON_KEYS = ["guest_pgscan_kswapd", "guest_compact_daemon_wake", "guest_pgmigrate_success", "guest_thp_fault_alloc"]


def run_fleet(*args):
    proc = subprocess.run([sys.executable, "-m", "fleet.cli", *args], capture_output=True, text=True)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.mark.parametrize("part", ["memory", "guest"])
def test_part_prints_one_json_object_with_every_key(part):
    code, out, err = run_fleet("bench", part, "--quick", "--json")
    assert code == 0, err
    assert out.count("\n") == 1 and err.count("\n") == 1  # progress goes to stderr
    result = json.loads(out)
    assert set(MACHINE_KEYS) <= result.keys()
    for key in PART_KEYS[part]:
        assert math.isfinite(result[key]) and result[key] > 0, key
    if part == "guest":
        assert all(isinstance(result[k], int) and result[k] >= 0 for k in DAEMON_KEYS)


def test_human_format_has_a_header_per_part_and_a_line_per_key():
    code, out, err = run_fleet("bench", "--quick", "guest")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "[machine]" and "[guest]" in lines
    keys = [line.split()[0] for line in lines if line and not line.startswith("[")]
    assert keys == MACHINE_KEYS + PART_KEYS["guest"] + DAEMON_KEYS


@pytest.mark.parametrize(
    "args, words",
    [
        (["bench", "--bogus"], "--bogus"),
        (["bench", "memory", "--memory", "64MiB"], "--memory"),
        (["bench", "guest", "extra"], "extra"),
    ],
)
def test_bad_options_give_one_line_and_exit_2(args, words, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("fleet: error:") and words in err


def test_fleet_figures():
    runs = {
        1: {
            "guest_seconds": 1000,
            "simulation_wall_s": 10.0,
            "guest_busy_s": 8.0,
            "guest_actor_peak_rss_bytes": 300,
            "command_wall_s": 20.0,
        },
        2: {
            "guest_seconds": 1000,
            "simulation_wall_s": 5.0,
            "guest_busy_s": 8.0,
            "guest_actor_peak_rss_bytes": 400,
            "command_wall_s": 14.0,
        },
    }
    assert fleet_figures(runs) == {
        "fleet_guest_seconds_per_s_1_worker": 100.0,
        "fleet_guest_seconds_per_s_2_workers": 200.0,
        "fleet_speedup_2_workers": 2.0,
        "fleet_outside_simulation_share": 0.2,  # 1 - 8 / (5 x 2)
        "fleet_wall_s_1_worker": 20.0,
        "fleet_wall_s_2_workers": 14.0,
        "fleet_guest_seconds_per_run": 1000,
        "guest_actor_peak_rss_bytes": 400,
    }
