"""The host notification stream's entries: one int64 per notification.

    entry = pfn << 8 | order << 4 | op

bits 0-3 are the op (constants.STREAM_INFLATE, STREAM_DEFLATE, STREAM_REPORT),
bits 4-7 the order of the block (0 for inflate and deflate, up to
MAX_PAGE_ORDER = 10 for a report) and the bits from 8 up the block's first
pfn (55 bits for a non-negative int64: far beyond any guest). Why one word:
the guest appends to a preallocated int64 array (state.stream) from compiled
kernels that must not allocate, and the host replays it in order, so
inflates, deflates and reports keep their interleaving; in hex an entry reads
as pfn, then one digit of order, then one of op.
"""

import numpy as np

from .jit import hot_kernel

OP_BITS = 4
ORDER_BITS = 4
ORDER_SHIFT = OP_BITS
PFN_SHIFT = OP_BITS + ORDER_BITS
OP_MASK = (1 << OP_BITS) - 1
ORDER_MASK = (1 << ORDER_BITS) - 1


@hot_kernel
def encode(pfn, order, op):
    """The entry telling the host `op` on the 2**order pages from `pfn`."""
    return (np.int64(pfn) << PFN_SHIFT) | (order << ORDER_SHIFT) | op


@hot_kernel
def decode(entry):
    """(pfn, order, op) of one entry."""
    return entry >> PFN_SHIFT, (entry >> ORDER_SHIFT) & ORDER_MASK, entry & OP_MASK


def decode_all(entries: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pfns, orders, ops) of an int64 array of entries: `decode`'s own code
    run by numpy on the whole array (uncompiled)."""
    return decode.py_func(entries)
