"""The results folder's sweep lock."""

from __future__ import annotations

import os

import pytest

from fleet.results import (
    ResultsError,
    lock_out_dir,
)
from tests.results.runs import SPAWN, child_hold_lock


def test_lock_out_dir_refuses_second_holder(tmp_path):
    held, release = SPAWN.Event(), SPAWN.Event()
    p = SPAWN.Process(target=child_hold_lock, args=(str(tmp_path), held, release))
    p.start()
    try:
        assert held.wait(30)
        with pytest.raises(ResultsError, match=rf"another fleet run is writing to .* \(pid {p.pid}\)"):
            with lock_out_dir(tmp_path):
                pass
    finally:
        release.set()
        p.join(30)
    assert p.exitcode == 0
    with lock_out_dir(tmp_path) as out:  # free again
        assert out == tmp_path
        with pytest.raises(ResultsError, match=f"pid {os.getpid()}"):
            with lock_out_dir(tmp_path):
                pass
