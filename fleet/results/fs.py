"""File-system primitives: fsync of files and directories, publishing a
directory by rename, writing a file whole or not at all, and the two flocks of a results folder (OUT/.lock around
manifest updates and publishing, OUT/.sweep.lock for one sweep per folder)."""

import contextlib
import errno
import fcntl
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from .errors import ResultsError
from .layout import LOCK, SWEEP_LOCK


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems refuse fsync on directories
        pass
    finally:
        os.close(fd)


def publish_dir(src: Path, dst: Path) -> None:
    """Rename a finished partition directory into place (atomic on POSIX)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    os.rename(src, dst)
    fsync_dir(dst.parent)


@contextlib.contextmanager
def atomic_write(path: Path) -> Iterator[IO[str]]:
    """A text file for `path` that appears whole or not at all: written to
    a temp file beside it (``.<name>.*.tmp``, with the umask's permissions,
    as open() would), fsynced and renamed onto `path` when the with-block
    ends; removed if the block or the writing fails. An OSError names
    `path`, not the temp file."""
    tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as exc:
        raise type(exc)(exc.errno, exc.strerror, str(path)) from None
    try:
        with os.fdopen(fd, "w") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def rmdir_if_empty(*paths: Path) -> None:
    """Remove the empty directories among `paths`, in order, up to the first
    one that is not empty (or missing)."""
    for p in paths:
        try:
            p.rmdir()
        except OSError:
            return


@contextlib.contextmanager
def locked(out: Path) -> Iterator[None]:
    """Exclusive blocking flock on OUT/.lock (manifest updates, publishing).

    flock locks belong to the open file description, so this excludes other
    processes and also other threads of this process (each call opens anew).
    """
    fd = os.open(out / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


@contextlib.contextmanager
def lock_out_dir(out_dir: str | os.PathLike) -> Iterator[Path]:
    """Hold an exclusive, non-blocking flock on OUT/.sweep.lock for the
    duration of a sweep; yields OUT (created if needed). Raises ResultsError
    ``another fleet run is writing to OUT (pid N)`` if another process (or
    another holder in this one) has it."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / SWEEP_LOCK
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            try:
                holder = os.pread(fd, 32, 0).decode().strip() or "?"
            except (OSError, UnicodeDecodeError):
                holder = "?"
            raise ResultsError(f"another fleet run is writing to {out} (pid {holder})") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield out
    finally:
        os.close(fd)  # releases the lock; the file stays (removing it would race)
