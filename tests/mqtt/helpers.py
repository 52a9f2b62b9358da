"""Test helpers for MQTT: a private Mosquitto we can kill and restart, and a subscriber
that records what it receives (optionally with a persistent session across outages)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiomqtt


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, up: bool, timeout_s: float = 5.0) -> None:
    """Wait until 127.0.0.1:port accepts (up) or refuses (not up) connections."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as s:
            s.settimeout(0.2)
            if (s.connect_ex(("127.0.0.1", port)) == 0) == up:
                return
        time.sleep(0.02)
    raise TimeoutError(f"port {port} did not become {'open' if up else 'closed'}")


class PrivateMosquitto:
    """A Mosquitto process of our own on a free port, with persistence, for outage tests."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.conf = workdir / "mosquitto.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
            f"persistence true\npersistence_location {workdir}/\n"
            "autosave_interval 1\nautosave_on_changes true\nqueue_qos0_messages true\n"
            # Started as root, Mosquitto drops to the `mosquitto` user, which cannot write
            # its persistence file into pytest's private tmp dir: sessions would then not
            # survive the restart and the outage test would pass by timing alone.
            + ("user root\n" if os.geteuid() == 0 else "")
        )

    def start(self) -> None:
        """Start (or restart) the broker on the same port with the same persistence."""
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.proc = subprocess.Popen(
            [exe, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_port(self.port, up=True)

    def stop(self) -> None:
        """Stop the broker (SIGTERM: it saves its persistence file)."""
        if self.proc is not None:
            self.proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(5)
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
        wait_port(self.port, up=False)


@dataclass
class Received:
    """One message as a subscriber saw it."""

    topic: str
    payload: bytes
    retain: bool

    def json(self) -> Any:
        return json.loads(self.payload)


@dataclass
class Recorder:
    """Subscribes to ``topic`` and keeps every message; reconnects if ``persistent``."""

    port: int
    topic: str
    persistent: bool = False
    qos: int = 1
    host: str = "127.0.0.1"
    messages: list[Received] = field(default_factory=list)
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def __aenter__(self) -> Recorder:
        self._task = asyncio.get_running_loop().create_task(self._run())
        await asyncio.wait_for(self.connected.wait(), 10)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _run(self) -> None:
        ident = f"rec-{id(self):x}"
        while True:
            try:
                async with aiomqtt.Client(
                    self.host, self.port, identifier=ident,
                    clean_session=not self.persistent, keepalive=5,
                ) as client:
                    await client.subscribe(self.topic, qos=self.qos)
                    self.connected.set()
                    async for m in client.messages:
                        self.messages.append(
                            Received(str(m.topic), bytes(m.payload), bool(m.retain))  # type: ignore[arg-type]
                        )
                        self._arrived.set()
            except aiomqtt.MqttError:
                self.connected.clear()
                if not self.persistent:
                    raise
                await asyncio.sleep(0.1)

    def on(self, suffix: str) -> list[Received]:
        """Messages whose topic ends with ``suffix``."""
        return [m for m in self.messages if m.topic.endswith(suffix)]

    async def wait_for(self, predicate: Any, timeout_s: float = 10.0) -> None:
        """Wait until ``predicate(self)`` is true."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while not predicate(self):
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TimeoutError(f"subscriber on {self.topic}: condition not met")
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), min(remaining, 0.2))


async def clear_retained(port: int, prefix: str, suffixes: list[str]) -> None:
    """Remove retained messages a test left on a shared broker."""
    async with aiomqtt.Client("127.0.0.1", port) as client:
        for suffix in suffixes:
            await client.publish(f"{prefix}/{suffix}", b"", qos=1, retain=True)
