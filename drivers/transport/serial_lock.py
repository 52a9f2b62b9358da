"""UUCP lock files for serial ports: ``LCK..<device>`` holding the owner's pid.

The convention minicom, picocom, ModemManager and friends follow (FHS: ``/var/lock``,
today ``/run/lock``): the file holds the pid as 10 ASCII characters, right-aligned, and
a newline. A lock whose pid no longer exists is stale and removed; a live one refuses
the port with :class:`SerialPortLocked`, naming the pid. Together with pyserial's
``exclusive=True`` (``flock`` on the device) this keeps a second program — or a second
transport of this process — off a port an instrument driver has open.

The lock's name is the device's real path (symlinks such as ``/dev/serial/by-id/…``
resolved, so every alias meets one lock) relative to ``/dev`` with ``/`` as ``_``:
``/dev/ttyUSB0`` → ``LCK..ttyUSB0``, ``/dev/pts/3`` → ``LCK..pts_3`` (a bare basename
``3`` would collide with other directories' devices); outside ``/dev`` the basename.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from drivers.errors import InstrumentConnectionError

#: Environment variable naming the lock directory (overrides the system default).
LOCK_DIR_ENV = "LAMINA_LOCK_DIR"
#: System lock directories, in order of preference.
SYSTEM_LOCK_DIRS = ("/run/lock", "/var/lock")

#: Lock files this process holds: path → id of the holder object (a transport).
_held: dict[str, int] = {}


class SerialPortLocked(InstrumentConnectionError):
    """The port is locked by another process (or another transport of this one)."""

    def __init__(self, device: str, lock_file: str, pid: int, *,
                 resource: str | None = None) -> None:
        self.device = device
        self.lock_file = lock_file
        self.pid = pid
        whose = "this process" if pid == os.getpid() else f"process {pid}"
        super().__init__(f"serial port {device} is in use by {whose} (lock {lock_file})",
                         resource=resource)


def lock_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Where lock files go: ``explicit``, else ``$LAMINA_LOCK_DIR``, else ``/run/lock`` or
    ``/var/lock`` if writable, else the temporary directory (then only programs that look
    there — this one — see the lock; ``exclusive`` still guards the device itself)."""
    if explicit is not None:
        return Path(explicit)
    env = os.environ.get(LOCK_DIR_ENV)
    if env:
        return Path(env)
    for candidate in SYSTEM_LOCK_DIRS:
        if os.path.isdir(candidate) and os.access(candidate, os.W_OK | os.X_OK):
            return Path(candidate)
    return Path(tempfile.gettempdir())


def lock_name(device: str) -> str:
    """``LCK..<name>`` for a device path (see the module docstring)."""
    real = os.path.realpath(device)
    if real.startswith("/dev/"):
        return "LCK.." + real[len("/dev/"):].replace("/", "_")
    return "LCK.." + os.path.basename(real)


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_pid(path: Path) -> int | None:
    """The pid in a lock file (ASCII, as written by us and by minicom alike), or None if
    it holds none (empty, garbage, or a binary pid of an ancient locker)."""
    try:
        text = path.read_bytes().decode("ascii", errors="replace").strip()
    except FileNotFoundError:
        raise
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def acquire(device: str, holder: object, *, directory: str | os.PathLike[str] | None = None,
            resource: str | None = None) -> Path:
    """Take the lock of ``device`` for ``holder``; the lock file's path.

    Idempotent for the same holder. Raises :class:`SerialPortLocked` if a live process
    (or another holder in this process) has it; removes a stale lock and takes it."""
    path = lock_dir(directory) / lock_name(device)
    key = str(path)
    if _held.get(key) == id(holder):
        return path
    if key in _held:
        raise SerialPortLocked(device, key, os.getpid(), resource=resource)
    content = f"{os.getpid():>10d}\n".encode("ascii")
    for _ in range(5):
        # Write a private file, then hard-link it into place: the link either creates the
        # lock with its whole content or fails because a lock exists (atomic, no window
        # in which another locker reads an empty file).
        fd, tmp = tempfile.mkstemp(prefix=".LTMP.", dir=path.parent)
        try:
            os.write(fd, content)
            os.close(fd)
            try:
                os.link(tmp, path)
                _held[key] = id(holder)
                return path
            except FileExistsError:
                pass
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        try:
            pid = _read_pid(path)
        except FileNotFoundError:
            continue  # released meanwhile: try again
        if pid is not None and _pid_alive(pid) and pid != os.getpid():
            raise SerialPortLocked(device, key, pid, resource=resource)
        # Stale: its process is gone (or it is ours, left by a transport never closed, or
        # unreadable). Remove it and try again.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
    raise SerialPortLocked(device, key, _read_pid(path) or -1, resource=resource)


def release(path: Path, holder: object) -> None:
    """Give up a lock taken by :func:`acquire` (only if it is still this holder's)."""
    key = str(path)
    if _held.get(key) != id(holder):
        return
    del _held[key]
    try:
        pid = _read_pid(path)
    except FileNotFoundError:
        return
    if pid == os.getpid():
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
