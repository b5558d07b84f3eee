"""Workload parameters and their registry: typed frozen dataclasses with
help, bad parameters refused with their name."""

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

import fleet.workload  # noqa: F401  (registers the implementations)
from fleet.spec.params import Params, params_help
from fleet.spec.workloads import WORKLOADS

make_spec = WORKLOADS.make_params


@pytest.mark.parametrize("name", WORKLOADS.names())
def test_params_are_frozen_typed_and_documented(name):
    params_cls, cls = WORKLOADS.params_class(name), WORKLOADS.implementation_of(name)
    assert issubclass(params_cls, Params) and cls.Params is params_cls and cls.name == name
    spec = params_cls()  # every field has a default
    f = dataclasses.fields(spec)[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(spec, f.name, getattr(spec, f.name))
    for field_name, type_name, _default, help_text in params_help(params_cls):
        assert help_text and "\n" not in help_text, field_name
        assert type_name != "None"


@pytest.mark.parametrize(
    "name,key,value",
    [
        ("server", "anon_bytes", -1),
        ("server", "file_rate", -4096),
        ("batch", "ramp_s", -1.0),
        ("build", "proc_anon_bytes", -(1 << 20)),
        ("build", "procs_per_s", -0.5),
        ("highalloc", "rate", -1),
        ("highalloc", "rate", 0),
        ("highalloc", "pass_starts_s", [60, -1]),
        ("trace", "time_scale", 0),
        ("mix", "churn_rate", -1),
    ],
)
def test_negative_sizes_and_rates_are_refused_by_name(name, key, value):
    with pytest.raises(ValueError, match=repr(key)):
        make_spec(name, {key: value})


@pytest.mark.parametrize(
    "name,key,value,words",
    [
        ("server", "anon_fraction", 1.5, "<= 1"),
        ("server", "anon_bytes", "4GiB", "integer"),
        ("server", "anon_rate", 1.5, "whole"),
        ("server", "slab_order_shares", [1, 1], "4 shares"),
        ("batch", "period_s", 100, "ramp_s \\+ hold_s"),
        ("highalloc", "order", 11, "<= 10"),
        ("highalloc", "order", 0, ">= 1"),
        ("highalloc", "pass_starts_s", [180, 60], "non-decreasing"),
        ("highalloc", "pass_starts_s", [], "at least one"),
        ("highalloc", "pass_starts_s", 60, "list"),
        ("trace", "wrap", 1, "true or false"),
        ("trace", "vm", 501, "<= 500"),
    ],
)
def test_bad_values_name_the_key(name, key, value, words):
    with pytest.raises(ValueError, match=f"'{key}'.*{words}|{words}.*'{key}'"):
        make_spec(name, {key: value})


def test_values_are_normalised():
    spec = make_spec("highalloc", {"pass_starts_s": [1, 2], "percent": 50})
    assert spec.pass_starts_s == (1.0, 2.0) and isinstance(spec.percent, float)
    assert make_spec("server", {"anon_rate": 2.0 * 4096}).anon_rate == 8192
    assert make_spec("server", {"anon_bytes": None}).anon_bytes is None
    assert hash(spec)  # frozen and hashable


def test_checking_a_spec_imports_neither_numba_nor_pyarrow():
    code = (
        "import sys; from fleet.spec import load_spec; load_spec('experiments/balloon-compaction.toml'); "
        "print(sorted(m for m in ('numba', 'pyarrow', 'duckdb', 'ray') if m in sys.modules))"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root)
    assert out.stdout.strip() == "[]"


def test_the_shipped_trace_slices_are_the_specs():
    import fleet.bitbrains as bb
    from fleet.spec.workloads import TRACE_SLICES

    assert tuple(bb.SLICES) == TRACE_SLICES
