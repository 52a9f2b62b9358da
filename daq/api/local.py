"""The station a CLI command runs in-process when no station answers at its URL.

It is the same station as ``daq run``: the real :class:`daq.station.lab.Lab` and the real
API app, served by uvicorn on ``127.0.0.1:<free port>`` for the command's duration, so
the command goes through exactly the client code it uses against a running station.
The command's token is minted here, on the station side, for a local user named after
the person at the terminal (``<login>@<host>``, role operator, created on first use with
a password nobody knows): the audit log says who ran the command.

An embedded MQTT broker, when that is the configuration, listens on a free port: the
command's station must not fight a running ``daq run`` for the broker's port.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import re
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass

import uvicorn
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from daq.api import accounts
from daq.api.app import create_app
from daq.api.serving import QuietServer, listening_socket, url_of
from daq.config import Settings
from daq.station.lab import Lab

#: The token of a command's station lives at most this long (wall seconds); it is
#: revoked when the command ends anyway.
TOKEN_LIFETIME_S = 24 * 3600.0
#: Real seconds uvicorn gets to start answering.
START_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class LocalStation:
    """Where the command's in-process station answers, the token to use, and its user."""

    url: str
    token: str
    user: str


def local_user() -> str:
    """``<login>@<host>``: the person at this terminal, as the audit log names them."""
    try:
        login = getpass.getuser()
    except (KeyError, OSError):
        login = "cli"
    name = f"{login}@{socket.gethostname().split('.')[0]}"
    return re.sub(r"[^A-Za-z0-9_.@-]", "-", name)[:64]


async def mint_token(sessions: async_sessionmaker[AsyncSession], user: str) -> str:
    """A token for ``user`` (created as an operator on first use)."""
    async with sessions() as session:
        try:
            await accounts.add_user(session, user, "operator", accounts.new_password())
        except accounts.AccountError:
            await session.rollback()  # exists already: keep its role as an admin set it
        token, _ = await accounts.issue_token(session, user, TOKEN_LIFETIME_S,
                                              label="in-process station of a CLI command")
    return token


def command_settings(settings: Settings) -> Settings:
    """``settings`` as a command's own station runs them: HTTP on a free local port, an
    embedded broker (if any) on a free port."""
    update: dict[str, object] = {"http_host": "127.0.0.1", "http_port": 0}
    if settings.mqtt_url == "embedded":
        update["embedded_mqtt_port"] = 0
    return settings.model_copy(update=update)


@contextlib.asynccontextmanager
async def local_station(settings: Settings, *, background: bool = False
                        ) -> AsyncIterator[LocalStation]:
    """Run the station of ``settings`` in-process, serving its API, for a ``with`` block;
    ``background``: with the background work of ``daq run`` too (front-panel peel capture,
    aging runs resumed).

    Leaving it stops the station as ``daq run`` stops: live runs to their safe state,
    readings flushed. :class:`daq.station.errors.InstrumentClaimed` when another station
    holds one of the instruments (nothing opened)."""
    settings = command_settings(settings)
    async with Lab(settings) as lab, contextlib.AsyncExitStack() as extra:
        if background:
            from daq.station.background import background_services

            await extra.enter_async_context(background_services(lab))
        user = local_user()
        token = await mint_token(lab.sessions, user)
        sock = listening_socket(settings.http_host, 0)
        config = uvicorn.Config(create_app(lab), log_level="warning", lifespan="on")
        server = QuietServer(config)
        serving = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
        try:
            async with asyncio.timeout(START_TIMEOUT_S):
                while not server.started:
                    if serving.done():
                        serving.result()  # raises what stopped it
                        raise RuntimeError("the in-process API stopped while starting")
                    await asyncio.sleep(0.01)
            yield LocalStation(url_of(sock, settings.http_host), token, user)
        finally:
            server.should_exit = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(serving, 10.0)
            sock.close()
            with contextlib.suppress(Exception):
                async with lab.sessions() as session:
                    await accounts.revoke_token(session, token)
