"""The host notification stream's entry format (fleet/memory/stream.py)."""

import numpy as np

from fleet.memory import constants as C
from fleet.memory.stream import OP_MASK, decode, decode_all, encode

# (pfn, order, op) at the edges: order 0 and MAX_PAGE_ORDER, the largest op the
# four bits hold, pfn 0 and the largest a non-negative int64 leaves.
CASES = [
    (0, 0, C.STREAM_INFLATE),
    (1, 0, C.STREAM_DEFLATE),
    (512, C.MAX_PAGE_ORDER, C.STREAM_REPORT),
    (123_456_789, 0, OP_MASK),
    (2**55 - 1, C.MAX_PAGE_ORDER, OP_MASK),
]


def test_encode_is_the_documented_format():
    for pfn, order, op in CASES:
        assert encode(pfn, order, op) == pfn << 8 | order << 4 | op


def test_decode_inverts_encode():
    for pfn, order, op in CASES:
        assert decode(encode(pfn, order, op)) == (pfn, order, op)


def test_decode_all_decodes_each_entry():
    entries = np.array([encode(*case) for case in CASES], dtype=np.int64)
    pfns, orders, ops = decode_all(entries)
    assert list(zip(pfns.tolist(), orders.tolist(), ops.tolist())) == CASES
    assert pfns.dtype == orders.dtype == ops.dtype == np.int64
