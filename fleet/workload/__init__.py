"""What runs inside a guest: the allocation and free requests a workload makes.

Importing the package registers every workload's implementation in
`fleet.spec.workloads.WORKLOADS` (their parameters are registered there):
server, batch, build (profiles.py), mix (mix.py), highalloc (highalloc.py),
steady (steady.py), trace (trace.py) and holes (holes.py).
"""

from . import highalloc, holes, mix, profiles, steady, trace  # noqa: F401  (registration)
from .base import Composite, Workload, make_composite, make_workload, run_workload

__all__ = ["Composite", "Workload", "make_composite", "make_workload", "run_workload"]
