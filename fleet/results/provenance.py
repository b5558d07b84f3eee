"""What made a result: a fingerprint of the simulator's code, the versions
of the packages that shape results and the machine that wrote them. All
three go into every run's manifest entry."""

import functools
import importlib.metadata
import os
import platform
from pathlib import Path

from ..sources import PACKAGE_DIR, tree_digest

_DISTRIBUTIONS = ("numpy", "numba", "pyarrow", "ray", "typer", "balloonfleet")


@functools.lru_cache(maxsize=1)
def _versions() -> tuple[tuple[str, str], ...]:
    found = [("python", platform.python_version())]
    for dist in _DISTRIBUTIONS:
        try:
            found.append((dist, importlib.metadata.version(dist)))
        except importlib.metadata.PackageNotFoundError:
            pass
    return tuple(found)


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """A digest of the simulator's own files (every .py and .parquet of the
    fleet and policies packages): runs made by different code must not be
    mixed in one folder or resumed."""
    import policies

    return tree_digest([PACKAGE_DIR, Path(policies.__file__).parent], (".py", ".parquet"))


def package_versions() -> dict[str, str]:
    """Versions of Python and of the packages that shape results (numpy,
    numba, pyarrow, ray, typer, balloonfleet); packages not installed are
    skipped."""
    return dict(_versions())


def cpu_model() -> str:
    """The first "model name" of /proc/cpuinfo, else what platform knows."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@functools.lru_cache(maxsize=1)
def machine() -> dict[str, str | int | None]:
    """The machine this process runs on: OS, architecture, CPU model and
    count, physical memory (the driver's, for a run: Ray nodes may differ)."""
    return {
        "system": f"{platform.system()} {platform.release()}",
        "machine": platform.machine(),
        "cpu_model": cpu_model(),
        "cpus": os.cpu_count(),
        "memory_total_bytes": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"),
    }
