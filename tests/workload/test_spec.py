"""Spec validation and the registry: typed frozen specs with help, bad
parameters refused with their name."""

import dataclasses

import pytest

from fleet.workload import WORKLOADS, make_spec, make_workload, spec_help
from fleet.workload.base import Spec


@pytest.mark.parametrize("name", sorted(WORKLOADS))
def test_specs_are_frozen_typed_and_documented(name):
    spec_cls, cls = WORKLOADS[name]
    assert issubclass(spec_cls, Spec) and cls.Spec is spec_cls and cls.name == name
    spec = spec_cls()  # every field has a default
    f = dataclasses.fields(spec)[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(spec, f.name, getattr(spec, f.name))
    for field_name, type_name, _default, help_text in spec_help(spec_cls):
        assert help_text and "\n" not in help_text, field_name
        assert type_name != "None"


@pytest.mark.parametrize("name,key,value", [
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
])
def test_negative_sizes_and_rates_are_refused_by_name(name, key, value):
    with pytest.raises(ValueError, match=repr(key)):
        make_spec(name, {key: value})


@pytest.mark.parametrize("name,key,value,words", [
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
])
def test_bad_values_name_the_key(name, key, value, words):
    with pytest.raises(ValueError, match=f"'{key}'.*{words}|{words}.*'{key}'"):
        make_spec(name, {key: value})


def test_unknown_key_and_unknown_workload(make_zone):
    zone, rng = make_zone()
    with pytest.raises(ValueError, match="'anon_size'"):
        make_workload("server", zone, {"anon_size": 1 << 30}, rng)
    with pytest.raises(ValueError, match="unknown workload 'sever'"):
        make_workload("sever", zone, {}, rng)
    assert len(zone.owner_names) == 2  # nothing registered: (free), balloon


def test_values_are_normalised():
    spec = make_spec("highalloc", {"pass_starts_s": [1, 2], "percent": 50})
    assert spec.pass_starts_s == (1.0, 2.0) and isinstance(spec.percent, float)
    assert make_spec("server", {"anon_rate": 2.0 * 4096}).anon_rate == 8192
    assert make_spec("server", {"anon_bytes": None}).anon_bytes is None
    assert hash(spec)  # frozen and hashable
