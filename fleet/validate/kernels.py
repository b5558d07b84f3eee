"""The two real kernels of the validation harness: Debian's linux-source-6.1
built twice from one small config that differs only in
CONFIG_BALLOON_COMPACTION.

Everything lives in the cache folder (`cache_dir()`), outside the git tree:
`src/` (the unpacked source, shared), `build-on/` and `build-off/` (object
trees, `make O=...`), `kernels/{on,off}/vmlinux` and `.config`. A kernel whose
config and vmlinux are present is reused, so a second setup takes seconds.
"""

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

SOURCE_TARBALL = Path("/usr/src/linux-source-6.1.tar.xz")
WORLDS = ("off", "on")  # CONFIG_BALLOON_COMPACTION not set / set

# Options on top of x86_64 defconfig. Built in: the balloon and its page
# migration path, compaction, THP, free page reporting, debugfs, the virtio
# block disk with ext2 (page cache needs a real filesystem), PVH so QEMU can
# boot the uncompressed vmlinux. Off: modules, network, sound, graphics, USB,
# tracing and debug info, which only cost build time and boot-time pageblocks.
ENABLE = (
    "VIRTIO",
    "VIRTIO_MENU",
    "VIRTIO_PCI",
    "VIRTIO_PCI_LEGACY",
    "VIRTIO_BALLOON",
    "MEMORY_BALLOON",
    "COMPACTION",
    "MIGRATION",
    "TRANSPARENT_HUGEPAGE",
    "TRANSPARENT_HUGEPAGE_MADVISE",
    "PAGE_REPORTING",
    "CONTIG_ALLOC",
    "DEBUG_FS",
    "DEBUG_FS_ALLOW_ALL",
    "DEVTMPFS",
    "DEVTMPFS_MOUNT",
    "BLK_DEV_INITRD",
    "RD_GZIP",
    "SERIAL_8250",
    "SERIAL_8250_CONSOLE",
    "PVH",
    "HYPERVISOR_GUEST",
    "PARAVIRT",
    "KVM_GUEST",
    "TMPFS",
    "VM_EVENT_COUNTERS",
    "PROC_SYSCTL",
    "BLOCK",
    "VIRTIO_BLK",
    "EXT2_FS",
    "BALLOON_COMPACTION",
)
DISABLE = (
    "MODULES",
    "NET",
    "SOUND",
    "DRM",
    "USB_SUPPORT",
    "WLAN",
    "WIRELESS",
    "ATA",
    "SCSI",
    "MD",
    "HID",
    "INPUT_MOUSE",
    "INPUT_JOYSTICK",
    "EXT4_FS",
    "BTRFS_FS",
    "XFS_FS",
    "ISO9660_FS",
    "MSDOS_FS",
    "VFAT_FS",
    "AUTOFS_FS",
    "QUOTA",
    "FTRACE",
    "KPROBES",
    "PROFILING",
    "DEBUG_INFO",
    "DEBUG_INFO_DWARF4",
    "DEBUG_INFO_DWARF5",
    "DEBUG_INFO_DWARF_TOOLCHAIN_DEFAULT",
    "DEBUG_KERNEL",
    "NUMA",
    "SECURITY",
    "AUDIT",
    "CGROUPS",
    "HIBERNATION",
    "SUSPEND",
    "KEXEC",
    "CRASH_DUMP",
    "SHUFFLE_PAGE_ALLOCATOR",
    "RANDOMIZE_BASE",
    "XEN",
    "AGP",
    "FB",
    "LOGO",
    "SND",
    "I2C",
    "HWMON",
    "THERMAL",
    "WATCHDOG",
    "MEDIA_SUPPORT",
    "PCCARD",
    "ACPI_BUTTON",
    "EFI",
    "MICROCODE",
    "X86_MCE",
    "PERF_EVENTS_INTEL_UNCORE",
)


class SetupError(RuntimeError):
    """A setup step failed; the message says which and where its log is."""


def cache_dir() -> Path:
    """$BALLOONFLEET_VALIDATE_DIR, else ~/.cache/balloonfleet/validate."""
    env = os.environ.get("BALLOONFLEET_VALIDATE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "balloonfleet" / "validate"


def kernel_dir(world: str) -> Path:
    return cache_dir() / "kernels" / world


def vmlinux(world: str) -> Path:
    return kernel_dir(world) / "vmlinux"


def config_hash(world: str) -> str:
    """sha256 of the kernel's .config (its provenance in a reference)."""
    return hashlib.sha256((kernel_dir(world) / ".config").read_bytes()).hexdigest()


def kernels_ready() -> bool:
    return all(vmlinux(w).exists() and (kernel_dir(w) / ".config").exists() for w in WORLDS)


def _run(cmd: list[str], log: Path, cwd: Path | None = None) -> None:
    with log.open("ab") as f:
        f.write(f"$ {' '.join(cmd)}\n".encode())
        f.flush()
        if subprocess.run(cmd, cwd=cwd, stdout=f, stderr=subprocess.STDOUT).returncode:
            raise SetupError(f"`{' '.join(cmd[:3])} ...` failed; see {log}")


def _source(log: Path) -> Path:
    src = cache_dir() / "src"
    if (src / "Makefile").exists():
        return src
    if not SOURCE_TARBALL.exists():
        raise SetupError(f"{SOURCE_TARBALL} is missing: install Debian's linux-source-6.1 (make validate-setup does)")
    tmp = cache_dir() / "src.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    _run(["tar", "-xf", str(SOURCE_TARBALL), "-C", str(tmp), "--strip-components=1"], log)
    tmp.rename(src)
    return src


def _configure(src: Path, build: Path, world: str, log: Path) -> None:
    make = ["make", "-C", str(src), f"O={build}", "ARCH=x86_64"]
    _run([*make, "defconfig"], log)
    cfg = [str(src / "scripts" / "config"), "--file", str(build / ".config")]
    args = [a for o in ENABLE if o != "BALLOON_COMPACTION" for a in ("-e", o)]
    args += [a for o in DISABLE for a in ("-d", o)]
    args += ["-e" if world == "on" else "-d", "BALLOON_COMPACTION"]
    _run([*cfg, *args], log)
    _run([*make, "olddefconfig"], log)


def build_kernel(world: str, jobs: int, log: Path) -> Path:
    """Configure and build one world's vmlinux (cached)."""
    out = kernel_dir(world)
    if (out / "vmlinux").exists() and (out / ".config").exists():
        return out / "vmlinux"
    src = _source(log)
    build = cache_dir() / f"build-{world}"
    build.mkdir(parents=True, exist_ok=True)
    _configure(src, build, world, log)
    _run(["make", "-C", str(src), f"O={build}", "ARCH=x86_64", f"-j{jobs}", "vmlinux"], log)
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy2(build / ".config", out / ".config")
    shutil.copy2(build / "vmlinux", out / "vmlinux.tmp")
    (out / "vmlinux.tmp").rename(out / "vmlinux")
    return out / "vmlinux"


def config_diff() -> list[str]:
    """The lines in which the two configs differ (each prefixed - or +)."""
    off = (kernel_dir("off") / ".config").read_text().splitlines()
    on = (kernel_dir("on") / ".config").read_text().splitlines()
    return [f"-{x}" for x in off if x not in set(on)] + [f"+{x}" for x in on if x not in set(off)]


def check_single_difference() -> str:
    """Prove the two kernels differ only in CONFIG_BALLOON_COMPACTION."""
    diff = config_diff()
    want = ["-# CONFIG_BALLOON_COMPACTION is not set", "+CONFIG_BALLOON_COMPACTION=y"]
    if diff != want:
        raise SetupError("the two kernel configs differ in more than CONFIG_BALLOON_COMPACTION: " + "; ".join(diff))
    return "configs differ in one line: CONFIG_BALLOON_COMPACTION (off: not set, on: =y)"


def setup_kernels(jobs: int | None = None) -> list[str]:
    """Build both kernels (cached) and check the single difference."""
    cache_dir().mkdir(parents=True, exist_ok=True)
    log = cache_dir() / "build.log"
    jobs = jobs or os.cpu_count() or 1
    done = []
    for world in WORLDS:
        cached = vmlinux(world).exists()
        if not cached:
            print(
                f"building the balloon-compaction-{world} kernel (-j{jobs}; log {log}) ...", file=sys.stderr, flush=True
            )
        build_kernel(world, jobs, log)
        done.append(f"kernel {world}: {vmlinux(world)} ({'cached' if cached else 'built'})")
    done.append(check_single_difference())
    return done
