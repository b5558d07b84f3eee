"""The trace workload follows one Bitbrains VM's memory usage; the shipped
slice is what data/README.md says it is."""

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

import fleet.bitbrains as bb
import fleet.workload.trace as tr
from fleet.memory import constants as C
from fleet.workload import make_workload, run_workload

DATA = Path(tr.__file__).with_name("data")


def samples(vm):
    table = pq.read_table(DATA / "bitbrains-rnd-2013-07-01.parquet", filters=[("vm", "=", vm)])
    ts = table["timestamp_s"].to_numpy() - 1372629600
    return ts, table["mem_provisioned_kb"].to_numpy(), table["mem_usage_kb"].to_numpy()


def test_slice_is_the_first_day_of_the_month():
    table = pq.read_table(DATA / "bitbrains-rnd-2013-07-01.parquet")
    assert table.column_names == ["vm", "timestamp_s", "mem_provisioned_kb", "mem_usage_kb"]
    assert table.num_rows == 122318
    ts = table["timestamp_s"].to_numpy()
    assert ts.min() >= 1372629600 and ts.max() < 1372629600 + 86400
    assert len(np.unique(table["vm"].to_numpy())) == 425
    readme = (DATA / "README.md").read_text()
    for words in ("Shen, Beek, Iosup", "CCGrid 2015", "GWA-T-12", "1372629600"):
        assert words in readme
    assert (
        pq.ParquetFile(DATA / "bitbrains-rnd-2013-07-01.parquet").metadata.row_group(0).column(0).compression == "ZSTD"
    )


@pytest.mark.parametrize("vm", [2, 7])
def test_anon_tracks_the_usage_share(make_zone, vm):
    zone, rng = make_zone()
    scale = 1 / 30  # one 5-minute sample every 10 simulated seconds
    w = make_workload("trace", zone, dict(vm=vm, time_scale=scale), rng)
    ts, prov, used = samples(vm)
    t = 0.0
    checked = 0
    for stop in (35, 120, 300, 600, 1200):
        t = run_workload(zone, w, stop - t, t0=t)
        i = np.searchsorted(ts, t / scale, side="right") - 1
        want = used[max(i, 0)] / prov[max(i, 0)] * zone.nr_pages
        got = zone.owner_pages(w.owners["anon"])
        assert abs(got - want) <= max(0.01 * want, 2), (t, got, want)
        checked += 1
    assert checked == 5
    assert w.metrics()["refused_pages"] == 0
    zone.check()


def test_usage_scale_and_rate_limit(make_zone):
    zone, rng = make_zone()
    ts, prov, used = samples(2)
    w = make_workload("trace", zone, dict(vm=2, usage_scale=0.5, rate=1 << 20), rng)
    run_workload(zone, w, 3)
    assert zone.owner_pages(w.owners["anon"]) == min(3 * 256, int(used[0] * 1024 * 0.5 / C.PAGE_SIZE))
    run_workload(zone, w, 400, t0=3)
    i = np.searchsorted(ts, 403, side="right") - 1
    assert zone.owner_pages(w.owners["anon"]) == int(used[i] * 1024 * 0.5 / C.PAGE_SIZE)


def test_wrap_and_hold_after_the_day(make_zone):
    zone, rng = make_zone()
    ts, prov, used = samples(2)
    share = lambda i: int(used[i] / prov[i] * zone.nr_pages)  # noqa: E731
    assert ts[-1] < 86400 - 60
    w = make_workload("trace", zone, dict(vm=2, start_s=86400 - 60), rng)
    assert w.target_pages(0) == share(-1)
    assert w.target_pages(900) == share(np.searchsorted(ts, 840, side="right") - 1)
    w2 = make_workload("trace", zone, dict(vm=2, start_s=86400 - 60, wrap=False), rng)
    assert w2.target_pages(900) == share(-1)


def test_target_capped_and_empty_vms(make_zone):
    zone, rng = make_zone()
    w = make_workload("trace", zone, dict(vm=2, usage_scale=1000.0, max_fraction=0.25), rng)
    ts, _, used = samples(2)
    assert used[0] == 0 and used[5] > 0
    assert w.target_pages(0) == 0 and w.target_pages(ts[5]) == int(0.25 * zone.nr_pages)
    zero = [v for v in bb.trace_vms() if not bb.load_slice()[v][1].any()]
    assert len(zero) == 15
    w = make_workload("trace", zone, dict(vm=zero[0]), rng)
    run_workload(zone, w, 5)
    assert zone.owner_pages(w.owners["anon"]) == 0


def test_vm_outside_the_slice(make_zone):
    zone, rng = make_zone()
    assert 14 not in bb.trace_vms()
    with pytest.raises(ValueError, match="'vm'.*14"):
        make_workload("trace", zone, dict(vm=14), rng)


def test_first24h_slice_has_every_vm_from_its_own_first_sample():
    table = pq.read_table(DATA / "bitbrains-rnd-2013-07-first24h.parquet")
    assert table.column_names == ["vm", "timestamp_s", "mem_provisioned_kb", "mem_usage_kb"]
    assert table.num_rows == 141970
    data = bb.load_slice("first24h")
    assert sorted(data) == list(range(1, 501))
    for ts, _, _ in data.values():
        assert ts[0] == 0 and ts[-1] < 86400 and (np.diff(ts) > 0).all()
    vm14 = data[14][0]  # starts 34 hours into the month, yet is here from its time 0
    assert len(vm14) > 100


def test_provisioned_bytes_is_the_month_maximum():
    month = sum(bb.provisioned_bytes(v) for v in range(1, 501))
    assert round(month / (1 << 40), 2) == 4.29
    assert bb.provisioned_bytes(27) == max(bb.provisioned_bytes(v) for v in range(1, 501))
    day = bb.load_slice("first24h")[5][1].max() * 1024
    assert bb.provisioned_bytes(5) >= day


def test_first24h_slice_accepts_a_vm_that_starts_late(make_zone):
    zone, rng = make_zone()
    w = make_workload("trace", zone, dict(vm=14, slice="first24h", time_scale=0.01), rng)
    run_workload(zone, w, 30)
    zone.check()
    assert w.metrics()["target_pages"] >= 0
