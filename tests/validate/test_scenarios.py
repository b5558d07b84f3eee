"""Validation scenario files and the `fleet validate` commands' refusals."""

import pytest

from fleet.cli import main
from fleet.scenario import ScenarioError
from fleet.validate import kernels
from fleet.validate.scenarios import load_scenario

GOOD = '[scenario]\nmemory = "1GiB"\nsteps = ["fill anon=100MiB", "punch anon every 2", "balloon 64MiB"]\n'


def write(tmp_path, text, name="s.toml"):
    p = tmp_path / name
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    return p


def test_a_good_scenario_loads(tmp_path):
    sc = load_scenario(write(tmp_path, GOOD))
    assert sc.zone_pages == (1024 - 16) * 256  # the DMA32 zone: RAM above the 16 MiB DMA zone
    assert [str(s) for s in sc.steps] == ["fill anon=100MiB", "punch anon every 2", "balloon 64MiB"]
    assert sc.reference_path.name == "s.ref.json"
    assert sc.reps == 3 and load_scenario(write(tmp_path, GOOD.replace("[scenario]", "[scenario]\nreps = 6"))).reps == 6


@pytest.mark.parametrize(
    "text, words",
    [
        ('[scenario]\nsteps = ["fill slab=10MiB"]\n', "no slab memory"),
        ('[scenario]\nsteps = ["punch kernel 0.5"]\n', "no kernel memory"),
        ('[scenario]\nmemory = "4GiB"\nsteps = ["compact"]\n', "256MiB..3GiB"),
        ('[scenario]\nmemory = "1GiB"\nthp_defrag = "sometimes"\nsteps = ["compact"]\n', "thp_defrag"),
        ('[scenario]\nsteps = "compact"\n', "list of step strings"),
        ('[scenario]\ncolour = 1\nsteps = ["compact"]\n', "unknown key scenario.colour"),
        ('[scenario]\nreps = 0\nsteps = ["compact"]\n', "scenario.reps must be a whole number within 1..20"),
        ('[scenario]\nreps = "6"\nsteps = ["compact"]\n', "scenario.reps"),
        ('[scenario]\nreps = true\nsteps = ["compact"]\n', "scenario.reps"),
        ("[other]\n", "exactly one [scenario]"),
        ('[scenario]\nsteps = ["jump 3"]\n', "not a step"),
        (b"\xff\xfe[scenario]", "not a TOML file"),
    ],
)
def test_bad_scenarios_get_one_line(tmp_path, text, words):
    with pytest.raises(ScenarioError, match=words.replace("[", r"\[").replace(".", r"\.")) as e:
        load_scenario(write(tmp_path, text))
    assert "\n" not in str(e.value)


def test_compare_without_a_reference_is_a_one_line_error(tmp_path, capsys):
    assert main(["validate", "compare", str(write(tmp_path, GOOD))]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("fleet: error: no recorded reference") and "\n" not in err


def test_record_without_kernels_says_to_run_setup(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BALLOONFLEET_VALIDATE_DIR", str(tmp_path / "cache"))
    assert main(["validate", "record", str(write(tmp_path, GOOD))]) == 2
    assert "make validate-setup" in capsys.readouterr().err


def test_config_difference_must_be_the_one_option(tmp_path, monkeypatch):
    monkeypatch.setenv("BALLOONFLEET_VALIDATE_DIR", str(tmp_path))
    base = "CONFIG_COMPACTION=y\nCONFIG_MIGRATION=y\n"
    for world, line in (("off", "# CONFIG_BALLOON_COMPACTION is not set"), ("on", "CONFIG_BALLOON_COMPACTION=y")):
        kernels.kernel_dir(world).mkdir(parents=True)
        (kernels.kernel_dir(world) / ".config").write_text(base + line + "\n")
    assert "one line" in kernels.check_single_difference()
    (kernels.kernel_dir("on") / ".config").write_text(base + "CONFIG_BALLOON_COMPACTION=y\nCONFIG_NUMA=y\n")
    with pytest.raises(kernels.SetupError, match="CONFIG_NUMA"):
        kernels.check_single_difference()
