"""`fleet validate record`: run a scenario in real guests of both kernels, on
and off side by side (one TCG guest per core, so both see the same host
load), `reps` times, and write the reference JSON with its provenance.

A reference holds, per world and repetition, one snapshot at boot and one
after every step: buddyinfo, the pageblock counts of pagetypeinfo, chosen
vmstat and meminfo lines, zoneinfo's watermarks and per-cpu list counts, and
buddyinfo and zoneinfo again after the per-cpu lists were drained.
"""

import datetime
import json
import os
import sys
import threading
import time
from pathlib import Path

from . import initramfs, kernels, procfs
from .compare import ZONE
from .qemu import Guest, GuestError, qemu_version
from .scenarios import Scenario
from .steps import PROC_FILES, RealRunner, boot, drain_pcp, read_files, timed

FORMAT = 1


def snapshot(guest: Guest, pfns: range | None = None) -> dict:
    """The /proc files now and after a drain of the per-cpu lists; with
    `pfns`, first the class of every page in that range (bfhelper pfnmap)."""
    layout = {"pfnmap": procfs.pfnmap(guest.sh(f"bfhelper pfnmap {pfns.start} {pfns.stop}"))} if pfns else {}
    files = read_files(guest, PROC_FILES)
    lowered = drain_pcp(guest, ZONE)
    drained = read_files(guest, ("buddyinfo", "zoneinfo"))
    return layout | {
        "buddyinfo": procfs.buddyinfo(files["buddyinfo"]),
        "pageblocks": procfs.pagetypeinfo(files["pagetypeinfo"]),
        "vmstat": procfs.vmstat(files["vmstat"]),
        "meminfo": procfs.meminfo(files["meminfo"]),
        "zoneinfo": procfs.zoneinfo(files["zoneinfo"]),
        "buddyinfo_drained": procfs.buddyinfo(drained["buddyinfo"]),
        "zoneinfo_drained": procfs.zoneinfo(drained["zoneinfo"]),
        "drain_lowered_watermarks": lowered,
    }


def run_world(sc: Scenario, world: str, rep: int, disk: Path, initrd: Path, log, live: list) -> dict:
    """One repetition of the scenario in one kernel's guest; the guest is in
    `live` while it runs, so that an interrupt can end it."""
    start = time.monotonic()
    with Guest(kernels.vmlinux(world), initrd, disk, sc.memory_mib, f"{sc.name}-{world}-{rep}") as guest:
        live.append(guest)
        boot_s = boot(guest, sc.thp_defrag)
        kernel = guest.sh("uname -r")
        runner = RealRunner(guest, seed=rep + 1)
        booted = {"step": "boot", "summary": f"booted in {boot_s:.1f} s", "wall_s": round(boot_s, 2)}
        snaps = [booted | snapshot(guest, sc.zone_pfns)]
        for i, step in enumerate(sc.steps, 1):
            summary, took = timed(runner.run, step)
            log(f"  {world} rep {rep + 1} step {i}/{len(sc.steps)} {step}: {summary} ({took:.1f} s)")
            snaps.append({"step": str(step), "summary": summary, "wall_s": round(took, 2)} | snapshot(guest))
            if snaps[-1]["vmstat"].get("oom_kill", 0):
                raise GuestError(
                    f"step {i} ({step}): the OOM killer ended a process; the scenario needs more memory than "
                    "the guest has, and the model has no OOM killer to compare with"
                )
    return {"kernel": kernel, "wall_s": round(time.monotonic() - start, 1), "snapshots": snaps}


def guest_files(sc: Scenario) -> tuple[Path, Path]:
    """The initramfs and data disk a guest of `sc` boots with, once the two
    kernels are built and differ in the one option (SetupError otherwise)."""
    if not kernels.kernels_ready():
        raise kernels.SetupError("the validation kernels are not built: run `make validate-setup` first")
    kernels.check_single_difference()
    return initramfs.initramfs(), initramfs.data_disk(max(sc.file_pages >> 8, 1))


def record(sc: Scenario, reps: int = 3, out: Path | None = None, log=None) -> Path:
    """Record `reps` repetitions on both kernels; returns the reference path."""
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    initrd, disk = guest_files(sc)
    runs: dict[str, list] = {w: [] for w in kernels.WORLDS}
    started = time.monotonic()
    live: list[Guest] = []

    def one(world: str, rep: int, results: dict) -> None:
        try:
            results[world] = run_world(sc, world, rep, disk, initrd, log, live)
        except BaseException as e:  # reported below, in the main thread
            results[world] = e

    for rep in range(reps):
        results: dict[str, dict | BaseException] = {}
        threads = [threading.Thread(target=one, args=(w, rep, results), daemon=True) for w in kernels.WORLDS]
        for t in threads:
            t.start()
        try:
            for t in threads:
                t.join()
        except KeyboardInterrupt:
            for guest in live:
                guest.close()
            raise
        for world in kernels.WORLDS:
            r = results[world]
            if isinstance(r, BaseException):
                raise GuestError(f"{sc.name}, balloon compaction {world}, repetition {rep + 1}: {r}") from r
            runs[world].append(r)
        log(f"{sc.name}: repetition {rep + 1}/{reps} done ({time.monotonic() - started:.0f} s)")
    ref = {
        "format": FORMAT,
        "scenario": sc.name,
        "description": sc.description,
        "memory_bytes": sc.memory_bytes,
        "thp_defrag": sc.thp_defrag,
        "steps": [str(s) for s in sc.steps],
        "provenance": {
            "kernel": runs["on"][0]["kernel"],
            "config_sha256": {w: kernels.config_hash(w) for w in kernels.WORLDS},
            "config_difference": kernels.config_diff(),
            "qemu": qemu_version(),
            "accel": "tcg",
            "vcpus": 1,
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "reps": reps,
            "wall_s": round(time.monotonic() - started, 1),
        },
        "runs": runs,
    }
    out = out or sc.reference_path
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(ref, separators=(",", ":")) + "\n")
    os.replace(tmp, out)
    return out
