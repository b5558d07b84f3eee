"""One real guest: QEMU (TCG, one vCPU) booting a kernel's vmlinux through its
PVH entry, driven over its serial console (shell lines, each closed by an end
marker) and QMP (the balloon)."""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

END = re.compile(r"^@@E(\d+) (-?\d+)$")


class GuestError(RuntimeError):
    """The guest did not answer, or a command in it failed."""


def qemu_version() -> str:
    out = subprocess.run(["qemu-system-x86_64", "--version"], capture_output=True, text=True, check=True).stdout
    return out.splitlines()[0]


class Guest:
    """A running QEMU guest; use as a context manager (the QEMU process is
    always ended, by PID)."""

    def __init__(self, kernel: Path, initrd: Path, disk: Path, memory_mib: int, name: str):
        self.dir = Path(tempfile.mkdtemp(prefix=f"bf-{name}-"))
        self.name = name
        cmd = [
            "qemu-system-x86_64",
            "-accel",
            "tcg",
            "-m",
            str(memory_mib),
            "-smp",
            "1",
            "-display",
            "none",
            "-monitor",
            "none",
            "-no-reboot",
            "-nodefaults",
            "-chardev",
            f"socket,id=con,path={self.dir / 'con'},server=on,wait=off",
            "-serial",
            "chardev:con",
            "-qmp",
            f"unix:{self.dir / 'qmp'},server=on,wait=off",
            "-kernel",
            str(kernel),
            "-initrd",
            str(initrd),
            "-append",
            "console=ttyS0 panic=-1 quiet",
            "-drive",
            f"file={disk},if=virtio,format=raw,readonly=on",
            "-device",
            "virtio-balloon-pci,id=balloon0,free-page-reporting=off",
        ]
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=(self.dir / "qemu.err").open("wb")
        )
        self.memory_bytes = memory_mib << 20
        self._buf = b""
        self._qbuf = b""
        self._seq = 0
        self.con = self.qmp = None
        try:
            self.con = self._connect(self.dir / "con")
            self.qmp = self._connect(self.dir / "qmp")
            self._qmp_cmd("qmp_capabilities")
        except BaseException:
            self.close()
            raise

    # ---------------------------------------------------------------- plumbing

    def _connect(self, path: Path) -> socket.socket:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = (self.dir / "qemu.err").read_text(errors="replace").strip()
                raise GuestError(f"QEMU exited at start: {err.splitlines()[-1] if err else self.proc.returncode}")
            try:
                s = socket.socket(socket.AF_UNIX)
                s.connect(str(path))
                return s
            except OSError:
                s.close()
                time.sleep(0.05)
        raise GuestError(f"QEMU socket {path} did not appear")

    def _open(self, sock: socket.socket | None) -> socket.socket:
        """`sock` (self.con or self.qmp), connected in __init__: None only if
        __init__ failed before connecting it."""
        if sock is None:
            raise GuestError(f"{self.name}: not connected")
        return sock

    def _lines(self, sock: socket.socket, attr: str, timeout: float):
        """Yield lines from a socket until the caller stops or `timeout` passes."""
        deadline = time.monotonic() + timeout
        while True:
            buf = getattr(self, attr)
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                setattr(self, attr, buf)
                yield line.decode(errors="replace").rstrip("\r")
            left = deadline - time.monotonic()
            if left <= 0:
                raise GuestError(f"{self.name}: no answer within {timeout:.0f} s")
            sock.settimeout(min(left, 1.0))
            try:
                data = sock.recv(65536)
            except TimeoutError:
                if self.proc.poll() is not None:
                    raise GuestError(f"{self.name}: QEMU exited ({self.proc.returncode})") from None
                continue
            if not data:
                raise GuestError(f"{self.name}: connection closed")
            setattr(self, attr, getattr(self, attr) + data)

    def wait_boot(self, timeout: float = 120) -> float:
        """Wait until init's command loop answers; returns the seconds taken."""
        start = time.monotonic()
        deadline = start + timeout
        con = self._open(self.con)
        while time.monotonic() < deadline:
            con.sendall(b"echo @@E0 0\n")
            try:
                for line in self._lines(con, "_buf", 1.0):
                    if END.match(line):
                        return time.monotonic() - start
            except GuestError:
                if self.proc.poll() is not None:
                    raise
        raise GuestError(f"{self.name}: the guest did not boot within {timeout:.0f} s")

    def sh(self, command: str, timeout: float = 300) -> str:
        """Run one shell line in the guest; returns its output. Raises
        GuestError when it exits non-zero."""
        con = self._open(self.con)
        self._seq += 1
        con.sendall(f'{command}; echo "@@E{self._seq} $?"\n'.encode())
        out: list[str] = []
        for line in self._lines(con, "_buf", timeout):
            m = END.match(line)
            if m and int(m.group(1)) == self._seq:
                if int(m.group(2)):
                    raise GuestError(f"{self.name}: `{command[:80]}` exited {m.group(2)}: {' | '.join(out[-3:])}")
                return "\n".join(out)
            if not m:
                out.append(line)
        raise AssertionError("unreachable")

    def _qmp_cmd(self, execute: str, **arguments) -> dict:
        msg = {"execute": execute} | ({"arguments": arguments} if arguments else {})
        qmp = self._open(self.qmp)
        qmp.sendall(json.dumps(msg).encode() + b"\n")
        for line in self._lines(qmp, "_qbuf", 30):
            reply = json.loads(line)
            if "return" in reply:
                return reply["return"]
            if "error" in reply:
                raise GuestError(f"{self.name}: QMP {execute}: {reply['error'].get('desc')}")
        raise AssertionError("unreachable")

    # ---------------------------------------------------------------- balloon

    def balloon_pages(self) -> int:
        """Pages in the balloon now (QMP query-balloon: memory minus actual)."""
        return (self.memory_bytes - self._qmp_cmd("query-balloon")["actual"]) >> 12

    def set_balloon(self, pages: int, stall_s: float = 3.0, timeout: float = 300) -> int:
        """Ask for a balloon of `pages` and wait until it is reached or stops
        moving for `stall_s`; a stalled balloon's target is then set to what
        it reached, so the driver does not go on in later steps. Returns the
        balloon's size in pages."""
        self._qmp_cmd("balloon", value=self.memory_bytes - (pages << 12))
        start = last_move = time.monotonic()
        now = self.balloon_pages()
        while now != pages and time.monotonic() - start < timeout:
            time.sleep(0.25)
            seen = self.balloon_pages()
            if seen != now:
                now, last_move = seen, time.monotonic()
            elif time.monotonic() - last_move > stall_s:
                self._qmp_cmd("balloon", value=self.memory_bytes - (now << 12))
                time.sleep(0.5)
                now = self.balloon_pages()
                break
        return now

    # ---------------------------------------------------------------- life

    def close(self) -> None:
        """End QEMU (by PID) and remove the sockets; safe to call twice."""
        for s in (self.con, self.qmp):
            if s is not None:
                s.close()
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> "Guest":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
