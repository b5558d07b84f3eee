"""Malformed specs and arguments, generated: every one is either accepted or
refused with a one-line SpecError / exit code 2, never a traceback."""

import subprocess
import sys

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleet.cli import main
from fleet.spec import SpecError, build_spec, sweep_points
from tests.examples import examples

KEYS = {
    "experiment": [
        "name",
        "seed",
        "duration_s",
        "tick_s",
        "policy_interval_s",
        "sample_interval_s",
        "guests_per_actor",
        "bogus",
    ],
    "kernel": ["era", "balloon_compaction", "thp_defrag", "proactiveness", "balloon_rate", "swap", "bogus"],
    "hosts": [
        "count",
        "memory",
        "khugepaged",
        "khugepaged_pages_to_scan",
        "khugepaged_scan_sleep_s",
        "khugepaged_max_ptes_none",
        "swap_size",
        "swap_bandwidth",
        "bogus",
    ],
    "policy": ["name", "params", "bogus"],
}
GUEST_KEYS = ["count", "memory", "balloon_min", "shares", "workload", "workload_params", "bogus"]

values = st.one_of(
    st.integers(-5, 10**12),
    st.booleans(),
    st.floats(allow_nan=True),
    st.text(max_size=8),
    st.sampled_from(["4GiB", "12XB", "-1MiB", "0", "10min", "3.8", "6.x", "mom", "server", "1.5GiB", "1e3"]),
    st.lists(st.integers(-2, 5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


def table(keys):
    return st.dictionaries(st.sampled_from(keys), values, max_size=4)


specs = st.fixed_dictionaries(
    {name: table(keys) for name, keys in KEYS.items()},
    optional={
        "guests": st.one_of(st.lists(table(GUEST_KEYS), max_size=3), values),
        "sweep": st.one_of(
            st.dictionaries(st.sampled_from(["seeds", "kernel.era", "regimes", "hosts.memory"]), values, max_size=2),
            values,
        ),
        "extra": values,
    },
)


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs)
def test_malformed_specs_are_refused_in_one_line(raw):
    for candidate in [raw]:
        try:
            build_spec(candidate)
            sweep_points(candidate)
        except SpecError as e:
            assert "\n" not in str(e) and str(e)


@settings(max_examples=examples(40), deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "--memory",
                "--seconds",
                "--era",
                "--show",
                "--steps",
                "--seed",
                "--thp-defrag",
                "--balloon-compaction",
                "x",
                "-1",
                "12XB",
                "1GiB",
                "fill anon=",
                "punch anon 2",
                "balloon 1ZiB",
                "3.8",
                "wait x",
                "--each",
                "",
            ]
        ),
        max_size=6,
    )
)
def test_malformed_inspect_arguments_exit_2_in_one_line(args):
    code = main(["inspect", "--memory", "128MiB", "--seconds", "0", *args])
    assert code in (0, 2)


def test_a_bad_spec_file_never_prints_a_traceback(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[[guests]]\nmemory = "256MiB"\nworkload = "trace"\n[guests.workload_params]\nvm = 99999\n')
    proc = subprocess.run(
        [sys.executable, "-m", "fleet.cli", "run", str(bad), "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1


def test_the_inputs_that_once_reached_a_traceback_get_one_line(tmp_path, capsys):
    """Issue 14, defect 3: a policy name in the wrong case, a policy parameter
    called `name`, a 20-digit seed, a spec that is not UTF-8, a negative
    --seed; and defect 2: a policy parameter out of range. Each is one line
    and exit 2, before Ray starts."""
    spec = '[experiment]\nname = "x"\n{extra}\n[[guests]]\ncount = 1\nmemory = "256MiB"\n'
    cases = {
        "case.toml": spec.format(extra='[policy]\nname = "MOM"'),
        "name.toml": spec.format(extra='[policy]\nname = "mom"\n[policy.params]\nname = 3'),
        "range.toml": spec.format(extra='[policy]\nname = "mom"\n[policy.params]\npressure_threshold = 7'),
        "seed.toml": spec.replace('name = "x"', 'name = "x"\nseed = 99999999999999999999').format(extra=""),
    }
    runs = [["run", str(tmp_path / name), "--out", str(tmp_path / "o")] for name in cases]
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "latin1.toml").write_bytes(b'[experiment]\nname = "\xe9"\n')
    runs += [["run", str(tmp_path / "latin1.toml"), "--out", str(tmp_path / "o")], ["inspect", "--seed", "-1"]]
    for argv in runs:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("fleet: error: ") and err.count("\n") == 1, (argv, err)
    assert not (tmp_path / "o").exists()
