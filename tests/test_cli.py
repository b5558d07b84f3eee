"""The `fleet` command as a user runs it: output shape, exit codes, one-line errors."""

import subprocess
import sys

import pytest

from fleet.cli import KERNEL_FILES, main


def run_fleet(*args):
    proc = subprocess.run([sys.executable, "-m", "fleet.cli", *args], capture_output=True, text=True)
    return proc.returncode, proc.stdout, proc.stderr


def test_inspect_prints_the_five_kernel_files_in_order():
    code, out, err = run_fleet("inspect", "--memory", "256MiB", "--seconds", "3", "--seed", "7")
    assert code == 0, err
    headers = [line for line in out.splitlines() if line.startswith("==> ")]
    assert headers == [f"==> {path} <==" for path in KERNEL_FILES.values()]
    assert "Node 0, zone   Normal " in out
    assert "Free pages count per migrate type at order       0 " in out
    assert "\nnr_free_pages " in out


def test_inspect_is_deterministic_and_seed_dependent():
    a = run_fleet("inspect", "--memory", "256MiB", "--seconds", "2", "--seed", "3", "--show", "buddyinfo")
    b = run_fleet("inspect", "--memory", "256MiB", "--seconds", "2", "--seed", "3", "--show", "buddyinfo")
    c = run_fleet("inspect", "--memory", "256MiB", "--seconds", "2", "--seed", "4", "--show", "buddyinfo")
    assert a == b
    assert a[1] != c[1]


@pytest.mark.parametrize(
    "args, words",
    [
        (["--memory", "12XB"], "--memory"),
        (["--memory", "64MiB"], "--memory"),
        (["--memory", "129MiB"], "pageblock"),
        (["--era", "2.6"], "--era"),
        (["--seconds", "-1"], "--seconds"),
        (["--show", "meminfo"], "--show"),
        (["--bogus"], "--bogus"),
    ],
)
def test_bad_options_give_one_line_and_exit_2(args, words, capsys):
    assert main(["inspect", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("fleet: error:") and words in err


def test_inspect_runs_the_fleet_guests_daemons():
    """Issue 14, defect 5: inspect's kernel is a fleet guest's with the spec's
    defaults; proactive compaction (proactiveness 20) runs in a wait step of
    a fragmented guest (its score, over the buddy lists alone, above 90)."""
    from fleet.spec import KernelSpec

    assert KernelSpec().proactiveness == 20
    code, out, err = run_fleet(
        "inspect", "--memory", "256MiB", "--show", "vmstat", "--steps", "fill anon=250MiB; punch anon 0.7; wait 3"
    )
    assert code == 0, err
    counters = dict(line.split() for line in out.splitlines() if line.startswith("compact_"))
    # 6.1 counts a proactive run in compact_migrate_scanned alone: no stall, no kcompactd wake
    assert int(counters["compact_migrate_scanned"]) > 0 and int(counters.get("compact_stall", 0)) == 0


def _commands(command, path=()):
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, (*path, name))


def test_no_help_text_loses_a_bracketed_word_to_rich_markup():
    """typer renders help with rich markup, which swallows an unescaped
    "[word]" (the sweep command once said "a  table" for "a [sweep] table")."""
    import re

    import typer

    from fleet.cli import app

    tag = re.compile(r"(?<!\\)\[[a-z][a-z_./-]*\]")
    eaten = []
    for path, command in _commands(typer.main.get_command(app)):
        texts = [command.help or ""] + [getattr(p, "help", None) or "" for p in command.params]
        eaten += [(" ".join(path), m.group()) for text in texts for m in tag.finditer(text)]
    assert eaten == []
    code, out, _ = run_fleet("sweep", "--help")
    assert code == 0 and "[sweep] table" in out
