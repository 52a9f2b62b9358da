"""A real station (simulators, SQLite file, embedded broker) serving OPC UA on a free
port, with a user per role, and asyncua clients of it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest_asyncio
from asyncua import Client, ua

from daq.station.lab import Lab
from tests.api.conftest import add_users, station_settings

NAMESPACE = "urn:lamina-daq"


@dataclass
class OpcStation:
    """A running Lab with OPC UA on, and the passwords of its users."""

    lab: Lab
    passwords: dict[str, str]

    @property
    def url(self) -> str:
        assert self.lab.opcua is not None
        return f"opc.tcp://127.0.0.1:{self.lab.opcua.port}"

    def client(self, user: str | None = None, password: str | None = None) -> Client:
        client = Client(self.url, timeout=30)
        if user is not None:
            client.set_user(user)
            client.set_password(password or "")
        return client


@asynccontextmanager
async def opc_station(tmp_path: Path, **extra: Any) -> AsyncIterator[OpcStation]:
    settings = station_settings(tmp_path, opcua_url="opc.tcp://127.0.0.1:0", **extra)
    async with Lab(settings) as lab:
        _, passwords = await add_users(lab)
        yield OpcStation(lab, passwords)


@pytest_asyncio.fixture
async def station(tmp_path: Path) -> AsyncIterator[OpcStation]:
    async with opc_station(tmp_path) as running:
        yield running


async def node_of(client: Client, ident: str) -> Any:
    """The node ``ns=<urn:lamina-daq>;s=<ident>``."""
    ns = await client.get_namespace_index(NAMESPACE)
    return client.get_node(ua.NodeId(ua.String(ident), ua.Int16(ns)))


async def eventually(check: Callable[[], Awaitable[bool]], what: str,
                     timeout_s: float = 60.0) -> None:
    """Read over OPC UA until ``check()`` is true; ``timeout_s`` is a hang guard, never the
    verdict."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, f"hang guard: {what}"
        await asyncio.sleep(0.02)
