"""The one random generator of a guest: splitmix64 on a one-word state array.

Every random choice of a guest's model and workload draws from one state array
seeded from (experiment seed, guest id), so results do not depend on which
process or actor runs the guest. splitmix64 (Steele, Lea and Flood, OOPSLA 2014)
is small, fast under numba and passes BigCrush; its period is 2**64.
"""

import numpy as np

from .jit import kernel

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)


def new_rng(seed: int, *stream: int) -> np.ndarray:
    """A generator state for (seed, *stream), e.g. (experiment seed, guest id)."""
    words = np.random.SeedSequence([seed, *stream]).generate_state(1, dtype=np.uint64)
    return words.copy()


@kernel
def next_u64(state):
    """Advance the state and return 64 random bits."""
    state[0] += _GAMMA
    z = state[0]
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@kernel
def randbelow(state, n):
    """A random integer in [0, n) (n >= 1); modulo bias < n / 2**53."""
    return np.int64((next_u64(state) >> _S11) % np.uint64(n))


@kernel
def random01(state):
    """A random float in [0, 1)."""
    return np.float64(next_u64(state) >> _S11) * (1.0 / 9007199254740992.0)
