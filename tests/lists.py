"""Reading the zone's linked lists in tests: every list (buddy, per-cpu,
owner) is threaded through `lru_next` from its head."""


def walk(zone, head: int) -> list[int]:
    """The pfns of the list that starts at `head`, in list order."""
    out, pfn = [], int(head)
    while pfn >= 0:
        out.append(pfn)
        pfn = int(zone.a.lru_next[pfn])
    return out
