"""The guest's initramfs and data disk, built once into the cache folder.

initramfs: Debian's static busybox, the project's init script and its static
C helper (guest/bfhelper.c, compiled here with gcc -static). Data disk: a raw
ext2 image holding one file, /data, read into the page cache by `fill file`
(page cache needs a real filesystem: tmpfs pages are shmem).
"""

import gzip
import hashlib
import os
import shutil
import subprocess
from importlib import resources
from pathlib import Path

from .kernels import SetupError, cache_dir

BUSYBOX = Path("/bin/busybox")


def _guest_file(name: str) -> bytes:
    return resources.files("fleet.validate").joinpath("guest").joinpath(name).read_bytes()


def sources_digest() -> str:
    """Digest of the guest's sources: a changed init or helper rebuilds."""
    h = hashlib.sha256()
    for name in ("init", "bfhelper.c"):
        h.update(_guest_file(name))
    return h.hexdigest()[:16]


def initramfs() -> Path:
    """Build (or reuse) initramfs-<digest>.cpio.gz and return its path."""
    out = cache_dir() / f"initramfs-{sources_digest()}.cpio.gz"
    if out.exists():
        return out
    if not BUSYBOX.exists():
        raise SetupError(f"{BUSYBOX} is missing: install busybox-static (make validate-setup does)")
    root = cache_dir() / "initramfs.root"
    shutil.rmtree(root, ignore_errors=True)
    for d in ("bin", "dev", "proc", "sys", "run", "mnt", "tmp"):
        (root / d).mkdir(parents=True)
    shutil.copy2(BUSYBOX, root / "bin" / "busybox")
    (root / "init").write_bytes(_guest_file("init"))
    (root / "init").chmod(0o755)
    src = root / "bfhelper.c"
    src.write_bytes(_guest_file("bfhelper.c"))
    cc = subprocess.run(
        ["gcc", "-O2", "-static", "-o", str(root / "bin" / "bfhelper"), str(src)], capture_output=True, text=True
    )
    if cc.returncode:
        raise SetupError(f"compiling the guest helper failed: {cc.stderr.strip().splitlines()[-1]}")
    src.unlink()
    names = subprocess.run(["find", "."], cwd=root, capture_output=True, text=True, check=True).stdout
    cpio = subprocess.run(["cpio", "-o", "-H", "newc", "--quiet"], cwd=root, input=names.encode(), capture_output=True)
    if cpio.returncode:
        raise SetupError(f"cpio failed: {cpio.stderr.decode().strip()}")
    tmp = out.with_suffix(".tmp")
    tmp.write_bytes(gzip.compress(cpio.stdout, compresslevel=6))
    tmp.rename(out)
    shutil.rmtree(root)
    return out


def data_disk(file_mib: int) -> Path:
    """An ext2 image (reused) whose /data file holds `file_mib` MiB of
    non-zero bytes (zero pages could be stored as holes)."""
    file_mib = max(64, -(-file_mib // 64) * 64)
    out = cache_dir() / f"data-{file_mib}MiB.ext2"
    if out.exists():
        return out
    stage = cache_dir() / "data.stage"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    chunk = bytes(range(1, 256)) * (1 << 12)
    with (stage / "data").open("wb") as f:
        left = file_mib << 20
        while left:
            n = min(left, len(chunk))
            f.write(chunk[:n])
            left -= n
    tmp = out.with_suffix(".tmp")
    size_mib = file_mib + file_mib // 16 + 16
    mk = subprocess.run(
        ["mke2fs", "-q", "-F", "-t", "ext2", "-d", str(stage), str(tmp), f"{size_mib}M"], capture_output=True, text=True
    )
    shutil.rmtree(stage)
    if mk.returncode:
        raise SetupError(f"mke2fs failed: {mk.stderr.strip()}")
    os.replace(tmp, out)
    return out
