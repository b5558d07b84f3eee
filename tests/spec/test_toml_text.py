"""A resolved spec written back as TOML (toml_text.py) reads back to the same spec."""

import tomllib
from pathlib import Path

import pytest

from fleet.spec import build_spec, resolve_raw, sweep_points, toml_text

EXPERIMENTS = sorted(Path("experiments").glob("*.toml"))


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.name)
def test_every_shipped_experiment_round_trips(path):
    for _, raw in sweep_points(resolve_raw(path))[:2]:
        spec = build_spec(raw)
        text = toml_text(spec.to_dict())
        assert tomllib.loads(text) == {k: v for k, v in spec.to_dict().items() if v is not None}
        assert build_spec(tomllib.loads(text)) == spec


def test_keys_strings_and_floats_that_need_care():
    doc = {
        "a": {"dotted.key": 'say "hi"\n', "x": 1.5, "inf": float("inf"), "none": None, "empty": []},
        "t": [{"n": 1, "sub": {"list": [{"inline": True}], "s": "\\"}}, {"n": 2}],
    }
    text = toml_text(doc)
    assert "none" not in text and '"dotted.key" = ' in text
    back = tomllib.loads(text)
    del doc["a"]["none"]
    assert back == doc
