"""What made a result: a fingerprint of the simulator's code and the versions
of the packages that shape results. Both go into every run's manifest entry."""

import functools
import importlib.metadata
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
