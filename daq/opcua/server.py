"""The station's OPC UA server: a bus consumer, like the MQTT publisher beside it.

The asyncua server runs on a thread of its own with its own event loop: asyncua checks a
login synchronously (see :mod:`daq.opcua.users`), and its browsing, reading and
subscriptions then cost the OPC UA thread, not the loop that polls the instruments.
On the station's loop one task reads the bus (readings, statuses, alarms, run events),
coalesces everything already queued into one :class:`~daq.opcua.space.Update` (the
latest value of each channel) and hands it to the OPC UA loop, waiting until it is
written before it takes the next turn. A reading is thus readable over OPC UA one turn
after the bus delivered it — the same turn in which the dashboard's stream sends it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from urllib.parse import urlparse

from asyncua import ua
from asyncua.server.server import Server

from daq.bus import Bus, Subscription
from daq.messages import Alarm, InstrumentStatus, Message, Reading, RunEvent
from daq.opcua.runs import RunTracker
from daq.opcua.space import StationSpace, Update
from daq.opcua.users import StationUserManager, StationUsers

log = logging.getLogger(__name__)

#: How long the OPC UA thread gets to start listening, and to stop (real s).
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0


class OpcUaError(Exception):
    """The OPC UA server cannot start (bad URL, address in use); the message says why."""


def check_url(url: str) -> tuple[str, int]:
    """Host and port of an ``opc.tcp://host:port`` endpoint; :class:`OpcUaError` if not."""
    parsed = urlparse(url)
    if parsed.scheme != "opc.tcp" or not parsed.hostname:
        raise OpcUaError(f"DAQ_OPCUA_URL must look like opc.tcp://host:port, not {url!r}")
    try:
        port = parsed.port if parsed.port is not None else 4840
    except ValueError:
        raise OpcUaError(f"DAQ_OPCUA_URL has a bad port: {url!r}") from None
    return parsed.hostname, port


class OpcUaServer:
    """Serves the station's live values over OPC UA at ``url``, read-only."""

    def __init__(self, url: str, *, bus: Bus, station: str, instruments: Mapping[str, str],
                 users: StationUsers, allow_anonymous: bool = False,
                 certificate: Path | None = None, private_key: Path | None = None) -> None:
        check_url(url)
        if (certificate is None) != (private_key is None):
            raise OpcUaError("an OPC UA certificate needs its private key and a key its "
                             "certificate: set both DAQ_OPCUA_CERTIFICATE and "
                             "DAQ_OPCUA_PRIVATE_KEY, or neither")
        for path in (certificate, private_key):
            if path is not None and not path.is_file():
                raise OpcUaError(f"OPC UA: no such file {path}")
        self.certificate = certificate
        self.private_key = private_key
        self.url = url
        self.bus = bus
        self.station = station
        self.instruments = dict(instruments)
        self.users = users
        self.allow_anonymous = allow_anonymous
        self.runs = RunTracker()
        self.updates = 0
        #: The port it listens on (the URL's, or the one chosen for port 0).
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        #: Set by stop(): the thread stops as soon as it can, even while still starting.
        self._quit = threading.Event()
        self._ready: concurrent.futures.Future[int] | None = None
        self._space: StationSpace | None = None
        self._sub: Subscription[Message] | None = None
        self._pump_task: asyncio.Task[None] | None = None

    # -- life cycle ---------------------------------------------------------------
    async def start(self) -> None:
        """Start the server and follow the bus: :meth:`begin`, then :meth:`ready`."""
        self.begin()
        await self.ready()

    def begin(self) -> None:
        """Follow the bus from now on (what comes meanwhile waits in the subscription)
        and start the server thread; returns at once. asyncua takes a few seconds to
        build its standard address space: the station goes on starting meanwhile."""
        station_loop = asyncio.get_running_loop()
        self._sub = self.bus.subscribe("opcua", (Reading, InstrumentStatus, Alarm, RunEvent),
                                       maxsize=10_000)
        self._ready = concurrent.futures.Future()
        manager = StationUserManager(self.users, station_loop,
                                     allow_anonymous=self.allow_anonymous)
        self._thread = threading.Thread(target=self._serve, args=(manager, self._ready),
                                        name="opcua-server", daemon=True)
        self._thread.start()

    async def ready(self, unpolled: Iterable[InstrumentStatus] = ()) -> None:
        """Wait until the server listens, then write what the bus brought meanwhile and
        what it brings next; :class:`OpcUaError` if it could not start. ``unpolled``:
        the status of each instrument no poller reports on (a peel tester streams only
        while it peels), as the station found it when it connected."""
        assert self._ready is not None and self._sub is not None, "begin() first"
        for status in unpolled:
            self._sub.offer(status)
        try:
            self.port = await asyncio.wait_for(asyncio.wrap_future(self._ready),
                                               START_TIMEOUT_S)
        except Exception as exc:
            await self.stop()
            raise OpcUaError(f"OPC UA server not started at {self.url}: {exc}") from exc
        self._pump_task = asyncio.get_running_loop().create_task(self._pump(),
                                                                 name="opcua-pump")
        log.info("OPC UA server at %s (port %d)", self.url, self.port)

    async def stop(self) -> None:
        """Stop following the bus, stop the server and its thread."""
        if self._pump_task is not None:
            self._pump_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump_task
        if self._sub is not None:
            self.bus.unsubscribe(self._sub)
        await self._join()

    async def _join(self) -> None:
        self._quit.set()
        loop, stop, thread = self._loop, self._stop, self._thread
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # its loop ended already
                loop.call_soon_threadsafe(stop.set)
        if thread is not None:
            await asyncio.to_thread(thread.join, STOP_TIMEOUT_S)
            if thread.is_alive():
                log.warning("OPC UA server thread did not stop within %.0f s", STOP_TIMEOUT_S)

    # -- the OPC UA thread -----------------------------------------------------------
    def _serve(self, manager: StationUserManager,
               ready: concurrent.futures.Future[int]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main(manager, ready))
        except BaseException as exc:  # reported to ready(); the thread just ends
            if not ready.done():
                ready.set_exception(exc)
            else:
                log.exception("OPC UA server stopped")
        finally:
            loop.close()

    async def _main(self, manager: StationUserManager,
                    ready: concurrent.futures.Future[int]) -> None:
        self._stop = asyncio.Event()
        server = Server(user_manager=manager)
        await server.init()
        server.set_endpoint(self.url)
        server.set_server_name(f"Lamina DAQ station {self.station}")
        await server.set_application_uri(f"urn:lamina-daq:{self.station}")
        policies = [ua.SecurityPolicyType.NoSecurity]
        if self.certificate is not None and self.private_key is not None:
            # With a certificate, passwords are encrypted with it on every endpoint (the
            # None endpoint's user token names this policy), and channels may be too.
            await server.load_certificate(self.certificate)
            await server.load_private_key(self.private_key)
            policies.append(ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt)
        server.set_security_policy(policies)
        tokens: list[type] = [ua.UserNameIdentityToken]
        if self.allow_anonymous:
            tokens.append(ua.AnonymousIdentityToken)
        server.set_identity_tokens(tokens)
        server.allow_remote_admin(False)
        space = StationSpace(server, self.station, self.instruments)
        await space.build()
        self._space = space
        await server.start()
        try:
            port = _listening_port(server)
            if not ready.done():
                ready.set_result(port)
            if not self._quit.is_set():  # else stop() came while it was starting
                await self._stop.wait()
        finally:
            await server.stop()

    # -- the station's loop -----------------------------------------------------------
    async def _pump(self) -> None:
        assert self._sub is not None and self._loop is not None and self._space is not None
        sub, loop, space = self._sub, self._loop, self._space
        while True:
            first = await sub.get()
            update = self._coalesce([first, *sub.get_batch(5000)])
            if not update:
                continue
            try:
                await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(space.apply(update),
                                                                           loop))
            except RuntimeError:  # the server's loop has ended (stopping)
                return
            except Exception:  # one bad write must not stop the updates
                log.exception("OPC UA: an update could not be written")
            self.updates += 1

    def _coalesce(self, messages: list[Message]) -> Update:
        update = Update()
        for message in messages:
            if isinstance(message, Reading):
                update.add_reading(message)
                if self.runs.apply_reading(message):
                    update.run = self.runs.view
            elif isinstance(message, InstrumentStatus):
                update.statuses[message.instrument] = message
            elif isinstance(message, Alarm):
                update.alarms.append(message)
            elif isinstance(message, RunEvent) and self.runs.apply(message):
                update.run = self.runs.view
        return update


def _listening_port(server: Server) -> int:
    """The port the server listens on (the URL's, or the one picked for port 0)."""
    if server.bserver is not None:
        return int(server.bserver.port)
    return server.endpoint.port or 4840
