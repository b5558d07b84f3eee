"""The compile decorator of the model's hot kernels.

`kernel` is numba's njit with the on-disk cache and with the runtime's
reference counting turned off (`_nrt=False`). The zone is a named tuple of 17
arrays; with reference counting on, every call between two compiled functions
increments and decrements each array's count, which measured 400 ns per call
on this machine against 3 ns without. Kernels compiled this way must not
allocate arrays; the few that do (the checker) use plain `njit(cache=True)`.
"""

from numba import njit

kernel = njit(cache=True, _nrt=False)
