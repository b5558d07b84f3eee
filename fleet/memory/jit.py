"""The compile decorators of the model's kernels, and where numba caches them.

`kernel` is numba's njit with the on-disk cache and with the runtime's
reference counting turned off (`_nrt=False`). The zone is a named tuple of 24
arrays; with reference counting on, every call between two compiled functions
increments and decrements each array's count, which measured 400 ns per call
on this machine. Kernels compiled this way must not allocate arrays; the few
that do (the checker) use `allocating_kernel`, numba's default.

`hot_kernel` also inlines the kernel into its callers at numba's level
(`inline="always"`). A call that LLVM leaves out of line passes the zone
flattened, about 180 machine words, and measured 40-45 ns per call; the
per-page paths (allocate, free, migrate) must not pay that on every page.

numba keys a cached kernel on its own source file only, so a kernel compiled
with code or constants from another file would be loaded stale after that
file changed. The cache therefore lives in one directory per digest of the
package's sources (`cache_dir`): any change to them compiles everything anew.
"""

import os

from numba import config, njit

from ..sources import PACKAGE_DIR, tree_digest


def cache_dir() -> str:
    """`<base>/kernels-<digest of the package's .py files>`. The base is
    NUMBA_CACHE_DIR when set, else `.numba_cache` beside pyproject.toml in a
    source checkout, else ~/.cache/balloonfleet/numba."""
    base = config.CACHE_DIR  # type: ignore[attr-defined]  # numba.config sets its settings in a function (_EnvReloader), unseen by mypy
    if not base:
        checkout = PACKAGE_DIR.parent
        if (checkout / "pyproject.toml").exists():
            base = str(checkout / ".numba_cache")
        else:
            base = os.path.join(os.path.expanduser("~"), ".cache", "balloonfleet", "numba")
    return os.path.join(base, "kernels-" + tree_digest([PACKAGE_DIR]))


# Set before any kernel below is decorated: numba picks the directory then.
config.CACHE_DIR = cache_dir()  # type: ignore[attr-defined]  # as above

kernel = njit(cache=True, _nrt=False)  # type: ignore[call-overload]  # numba's stubs lack njit's private _nrt flag
hot_kernel = njit(cache=True, _nrt=False, inline="always")  # type: ignore[call-overload]  # as above
allocating_kernel = njit(cache=True)
