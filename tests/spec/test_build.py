"""Building a spec (build.py): every bad spec is refused with one line naming the key."""

import pytest

from fleet.spec import SpecError, build_spec

GOOD = {
    "experiment": {"name": "t", "duration_s": "2min"},
    "hosts": {"count": 1, "memory": "1GiB"},
    "guests": [{"count": 2, "memory": "256MiB", "balloon_min": "64MiB"}],
}


def with_(path, value):
    import copy

    raw = copy.deepcopy(GOOD)
    node = raw
    *parents, last = path
    for p in parents:
        node = node[p]
    node[last] = value
    return raw


def test_good_spec_resolves_units():
    spec = build_spec(GOOD)
    assert spec.experiment.duration_s == 120
    assert spec.hosts.memory == 1 << 30
    assert spec.guests[0].memory == 256 << 20 and spec.guests[0].balloon_min == 64 << 20


@pytest.mark.parametrize(
    "path, value, words",
    [
        (("experiment", "bogus"), 1, "experiment.bogus: unknown key"),
        (("hosts", "memory"), "12XB", "hosts.memory: bad size"),
        (("guests", 0, "memory"), "2GiB", "larger than its host"),
        (("guests", 0, "memory"), "100MiB", "within 128MiB"),
        (("kernel",), {"era": "2.6"}, "kernel.era"),
        (("kernel",), {"balloon_rate": -5}, "kernel.balloon_rate: must not be negative"),
        (("kernel",), {"swap": "yes"}, "kernel.swap: expected true or false"),
        (("experiment", "duration_s"), "ten", "experiment.duration_s: bad duration"),
        (("experiment", "sample_interval_s"), 7, "sample_interval_s"),
        (("guests", 0, "balloon_min"), "512MiB", "balloon_min"),
    ],
)
def test_bad_specs_name_the_key(path, value, words):
    with pytest.raises(SpecError) as info:
        build_spec(with_(path, value))
    message = str(info.value)
    assert words in message and "\n" not in message


def test_unknown_table_is_refused():
    with pytest.raises(SpecError, match="unknown table"):
        build_spec({**GOOD, "hots": {}})


def test_memory_from_trace_sizes_each_guest_from_its_vm():
    from fleet.bitbrains import provisioned_bytes
    from fleet.guest import Guest, guest_memory, guest_params

    raw = {
        "hosts": {"count": 2, "memory": "64GiB"},
        "guests": [
            {
                "count": 2,
                "memory_from_trace": True,
                "workload": "trace",
                "workload_params": {"slice": "first24h", "per_guest": {"vm": [2, 5, 7, 10]}},
            }
        ],
    }
    spec = build_spec(raw)
    g = spec.guests[0]
    sizes = [guest_memory(g, guest_params(g.workload_params, n)) for n in range(4)]
    for size, vm in zip(sizes, [2, 5, 7, 10]):
        assert size % (2 << 20) == 0 and size >= max(provisioned_bytes(vm), 128 << 20)
        assert size - max(provisioned_bytes(vm), 128 << 20) < 2 << 20
    guest = Guest(spec, 1, 1, g)  # host 1, guest 1: the fourth VM
    assert guest.memory == sizes[3] and guest.sample()["memory_bytes"] == sizes[3]


def test_memory_from_trace_is_checked_against_the_host_and_the_workload():
    raw = {
        "hosts": {"memory": "16GiB"},
        "guests": [
            {"memory_from_trace": True, "workload": "trace", "workload_params": {"vm": 27, "slice": "first24h"}}
        ],
    }
    with pytest.raises(SpecError, match=r"guests\[0\]\.memory: a guest of 523734MiB is larger than its host"):
        build_spec(raw)
    raw = {"guests": [{"memory_from_trace": True, "workload": "server"}]}
    with pytest.raises(SpecError, match="memory_from_trace needs workload"):
        build_spec(raw)


@pytest.mark.parametrize("on", [True, False])
def test_kernel_pcp_lists_decides_whether_a_guest_has_per_cpu_lists(on):
    from fleet.guest import Guest
    from fleet.memory import constants as C

    spec = build_spec({"kernel": {"pcp_lists": on}, "guests": [{"memory": "256MiB"}]})
    guest = Guest(spec, 0, 0, spec.guests[0])
    assert (int(guest.zone.a.zs[C.ZS_PCP_HIGH]) > 0) == on


def test_kernel_thp_defrag_is_what_the_workloads_thp_faults_obey():
    """Issue 14, defect 1: `kernel.thp_defrag` reaches every guest's THP
    faults. In a guest whose free memory is all single-page holes (no
    background compaction), `never` falls back at once, `madvise` compacts
    for the workload's madvised regions."""
    from fleet.guest import Guest
    from fleet.memory import constants as C
    from fleet.memory.watermark import WMARK_LOW

    counts = {}
    for mode in ("never", "madvise"):
        spec = build_spec(
            {
                "kernel": {"thp_defrag": mode, "proactiveness": 0, "kcompactd": False},
                "guests": [
                    {
                        "memory": "256MiB",
                        "workload": "steady",
                        "workload_params": {"footprint_fraction": 0.1, "thp_share": 1.0, "slab_share": 0.0},
                    }
                ],
            }
        )
        guest = Guest(spec, 0, 0, spec.guests[0])
        zone = guest.zone
        assert zone.thp_defrag == mode
        filler = zone.register_owner("filler", C.KIND_ANON)
        zone.alloc_bulk(filler, 0, zone.nr_pages, WMARK_LOW)
        zone.free_owner_every(filler, 2)
        guest.advance(10, None)
        counts[mode] = {name: int(zone.a.vm[C.VM[name]]) for name in ("thp_fault_fallback", "compact_stall")}
    assert counts["never"]["compact_stall"] == 0 < counts["never"]["thp_fault_fallback"]
    assert counts["madvise"]["compact_stall"] > 0
    assert counts["madvise"]["thp_fault_fallback"] < counts["never"]["thp_fault_fallback"]
