"""Provenance: the package versions a run records."""


from __future__ import annotations

import json
import multiprocessing as mp
import os
import subprocess
import sys
import threading
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from fleet import results
from fleet.results import (
    ResultsError,
    RunWriter,
    committed_runs,
    lock_out_dir,
    package_versions,
    read_table,
    recover,
    writer,
)

from tests.results.runs import SCHEMA, SPAWN, batch, child_commit, child_crash, child_hold_lock, commit_run, manifest


def test_package_versions():
    v = package_versions()
    assert v["pyarrow"] == pa.__version__
    assert "python" in v and "balloonfleet" in v
    assert all(isinstance(x, str) for x in v.values())
