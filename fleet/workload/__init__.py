"""What runs inside a guest: the allocation and free requests a workload makes.

Importing the package registers every workload in `WORKLOADS`:
server, batch, build (profiles.py), mix (mix.py), highalloc (highalloc.py),
steady (steady.py) and trace (trace.py).
"""

from .base import (
    WORKLOADS,
    Composite,
    Spec,
    Workload,
    make_composite,
    make_spec,
    make_workload,
    run_workload,
    spec_help,
)
from . import highalloc, mix, profiles, steady, trace  # noqa: E402,F401  (registration)

__all__ = [
    "WORKLOADS",
    "Composite",
    "Spec",
    "Workload",
    "make_composite",
    "make_spec",
    "make_workload",
    "run_workload",
    "spec_help",
]
