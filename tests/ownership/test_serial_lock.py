"""Serial ports are opened exclusively, with a UUCP lock file: a second open of one port
(a pseudo-terminal serving the press protocol) is refused naming the first opener's pid,
from this process and from another; a lock left by a dead process is taken over."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from drivers.transport import make_transport
from drivers.transport.serial_lock import SerialPortLocked, lock_name
from drivers.transport.serial_port import SerialTransport
from simulators.clock import Clock
from simulators.press import PressSimulator
from simulators.servers import PtyServer


@pytest.fixture
def locks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A lock directory of this test's own (``LAMINA_LOCK_DIR``)."""
    where = tmp_path / "lock"
    where.mkdir()
    monkeypatch.setenv("LAMINA_LOCK_DIR", str(where))
    return where


@pytest.fixture
async def pty(tmp_path: Path) -> AsyncIterator[PtyServer]:
    server = PtyServer(PressSimulator(Clock(scale=600), seed=3), link=tmp_path / "press-tty")
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def _lock_file(locks: Path, pty: PtyServer) -> Path:
    assert pty.device is not None
    return locks / lock_name(pty.device)


def _expected_name(pty: PtyServer) -> str:
    """UUCP style: the real device path under /dev with "/" as "_" (``LCK..pts_3``)."""
    assert pty.device is not None
    return "LCK.." + os.path.realpath(pty.device).removeprefix("/dev/").replace("/", "_")


async def test_lock_file_holds_the_pid_uucp_style_and_goes_on_close(
    locks: Path, pty: PtyServer,
) -> None:
    lock = _lock_file(locks, pty)
    assert lock.name == _expected_name(pty)
    async with make_transport(pty.resource, timeout=1.0) as link:
        assert "Lamination Press" in await link.query("*IDN?")
        assert lock.read_bytes() == f"{os.getpid():>10d}\n".encode()
        assert len(lock.read_bytes()) == 11
    assert not lock.exists()


async def test_second_open_in_this_process_is_refused_naming_the_pid(
    locks: Path, pty: PtyServer,
) -> None:
    async with make_transport(pty.resource, timeout=1.0) as first:
        second = make_transport(f"ASRL{pty.device}::INSTR", timeout=1.0)  # another alias
        with pytest.raises(SerialPortLocked) as refused:
            await second.open()
        assert refused.value.pid == os.getpid() and "in use by this process" in str(
            refused.value)
        assert "Lamination Press" in await first.query("*IDN?")  # the first is untouched
    async with make_transport(pty.resource, timeout=1.0) as again:  # free after close
        assert await again.query("SYST:ERR?") == '0,"No error"'


async def test_second_open_from_another_process_is_refused_naming_the_first_pid(
    locks: Path, pty: PtyServer,
) -> None:
    opener = (
        "import asyncio, sys\n"
        "from drivers.transport import make_transport\n"
        "async def main():\n"
        "    async with make_transport(sys.argv[1], timeout=1.0) as link:\n"
        "        print(await link.query('*IDN?'), flush=True)\n"
        "        sys.stdin.readline()\n"
        "asyncio.run(main())\n"
    )
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", opener, pty.resource, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, env={**os.environ, "LAMINA_LOCK_DIR": str(locks)})
    try:
        assert child.stdout is not None and child.stdin is not None
        line = await asyncio.wait_for(child.stdout.readline(), 30)  # hang guard only
        assert b"Lamination Press" in line  # the child has the port open now
        with pytest.raises(SerialPortLocked) as refused:
            await make_transport(pty.resource, timeout=1.0).open()
        assert refused.value.pid == child.pid
        assert f"in use by process {child.pid}" in str(refused.value)
    finally:
        if child.returncode is None:
            child.kill()
        await child.wait()


async def test_stale_lock_of_a_dead_process_is_taken_over(locks: Path, pty: PtyServer) -> None:
    gone = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    await gone.wait()  # reaped: its pid names no process
    lock = _lock_file(locks, pty)
    lock.write_bytes(f"{gone.pid:>10d}\n".encode())
    async with make_transport(pty.resource, timeout=1.0) as link:
        assert "Lamination Press" in await link.query("*IDN?")
        assert lock.read_bytes() == f"{os.getpid():>10d}\n".encode()


async def test_lock_dir_can_be_given_to_the_transport(tmp_path: Path, pty: PtyServer) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    assert pty.device is not None
    link = SerialTransport(pty.resource, pty.device, timeout=1.0, lock_dir=mine)
    async with link:
        assert (mine / lock_name(pty.device)).exists()
    assert not any(mine.iterdir())
