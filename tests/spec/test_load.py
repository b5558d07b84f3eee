"""Loading specs (load.py): files, `--set` overrides, seeds and sweep points."""

import pytest

from fleet.spec import SpecError, apply_override, build_spec, load_spec, sweep_points
from tests.spec.test_build import GOOD


def test_overrides_and_missing_file(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('[experiment]\nname = "x"\n[[guests]]\nmemory = "256MiB"\n')
    spec = load_spec(path, ["kernel.era=3.8", "guests[0].count=3"], seed=9)
    assert spec.kernel.era == "3.8" and spec.guests[0].count == 3 and spec.experiment.seed == 9
    with pytest.raises(SpecError, match="no such file"):
        load_spec(tmp_path / "missing.toml")
    with pytest.raises(SpecError, match="there is no guests\\[4\\]"):
        load_spec(path, ["guests[4].count=1"])


def test_sweep_grid_names_every_point():
    raw = {**GOOD, "sweep": {"kernel.balloon_compaction": [False, True], "seeds": [1, 2, 3]}}
    points = sweep_points(raw)
    assert len(points) == 6 and len({run for run, _ in points}) == 6
    run, point = points[-1]
    assert run == "balloon_compaction=True_seed=3"
    assert build_spec(point).kernel.balloon_compaction is True and build_spec(point).experiment.seed == 3


def test_a_quoted_segment_may_hold_dots():
    """`--set sweep."kernel.balloon_compaction"=[true]` overrides one sweep
    dimension, whose key is itself dotted; an unbalanced quote is refused."""
    raw = {**GOOD, "sweep": {"kernel.balloon_compaction": [False, True], "seeds": [1, 2]}}
    apply_override(raw, 'sweep."kernel.balloon_compaction"=[true]')
    assert raw["sweep"] == {"kernel.balloon_compaction": [True], "seeds": [1, 2]}
    assert [run for run, _ in sweep_points(raw)] == ["balloon_compaction=True_seed=1", "balloon_compaction=True_seed=2"]
    with pytest.raises(SpecError, match="not a dotted key"):
        apply_override(raw, 'sweep."kernel.era=[1]')
