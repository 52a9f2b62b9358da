"""The service's MQTT publisher: readings, statuses and the outbox, through outages.

One aiomqtt connection (TCP_NODELAY on its socket: without it the latency tail at
1 k msg/s reaches ~40 ms). Design from the measured facts of issue 4:

* readings (QoS 0) never wait for the broker: the bus hands them to a bounded deque
  (``Settings.mqtt_readings_queue``); during an outage they stay there and are sent
  afterwards with ``"replayed": true``; beyond the bound the oldest are dropped, counted
  and logged;
* readings are handed to the connection's packet queue as they arrive, all that are
  queued at once, without awaiting each one (issue 16): an awaited aiomqtt publish
  takes four turns of the event loop (register the writer, write, confirm, resume the
  task), so at 1 k readings/s a burst of a hundred readings queued behind a small window
  of awaited publishes and the 99th percentile to a subscriber reached 50 ms. Each one's
  ``MQTTMessageInfo`` says when it was written; those not written when the link drops go
  back to the front of the queue and are sent again, late, on the next connection;
* run events, statuses and alarms are awaited publishes; aiomqtt warns on every
  publish once more than ``pending_calls_threshold`` (10) calls are pending, so the
  outbox window and the status sender always stay below it;
* run events, results and alarms (QoS 1) come only from the outbox table
  (:class:`daq.mqtt.outbox.OutboxDrainer`), so they survive outages and crashes.

The connection is re-made with capped exponential back-off; the broker publishes the
retained last will ``offline`` on ``{prefix}/service/status`` if we die.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections import deque
from dataclasses import dataclass

import aiomqtt
import paho.mqtt.client as paho

from daq.bus import Bus, Subscription
from daq.clock import SimClock
from daq.messages import Alarm, InstrumentStatus, Message, Reading, RunEvent
from daq.mqtt.outbox import OutboxDrainer, PublishFn
from daq.mqtt.topics import Topics, reading_payload

log = logging.getLogger(__name__)

NODELAY = (socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
#: aiomqtt logs a warning per publish above this many pending calls (its default).
PENDING_CALLS_THRESHOLD = 10
#: Readings handed to the connection but not yet written to its socket, at most: beyond
#: this (a broker that reads slower than we publish) the sender waits, and the readings
#: stay in the bounded queue where overflow is counted.
MAX_UNWRITTEN_READINGS = 2000


def paho_client(client: aiomqtt.Client) -> paho.Client:
    """The paho client under an aiomqtt one, to queue QoS 0 packets without awaiting each
    (aiomqtt has no such call). Checked, so an aiomqtt release that changes it fails
    loudly here, not silently in the data path."""
    inner = client._client
    if not isinstance(inner, paho.Client):  # pragma: no cover - guards an aiomqtt change
        raise RuntimeError(f"aiomqtt.Client._client is {type(inner).__name__}, not paho")
    return inner


@dataclass
class PublisherStats:
    """Counters and gauges of the publisher (rendered by daq.metrics)."""

    readings_published: int = 0
    readings_replayed: int = 0
    readings_dropped: int = 0
    statuses_published: int = 0
    connects: int = 0
    disconnects: int = 0
    connect_failures: int = 0
    last_error: str = ""


class MqttPublisher:
    """Publishes the bus to the broker at ``host:port`` under ``prefix``; reconnects."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        prefix: str,
        clock: SimClock,
        bus: Bus,
        outbox: OutboxDrainer | None = None,
        readings_queue: int = 100_000,
        client_id: str | None = None,
        username: str | None = None,
        password: str | None = None,
        backoff_max_s: float = 5.0,
        outbox_poll_s: float = 1.0,
    ) -> None:
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.topics = Topics(prefix)
        self.clock = clock
        self.bus = bus
        self.outbox = outbox
        self.client_id = client_id
        self.readings_queue_max = readings_queue
        # the outbox window + one status publish stay within aiomqtt's pending-calls threshold
        if outbox is not None:
            outbox.window = max(1, min(outbox.window, PENDING_CALLS_THRESHOLD - 2))
        self.backoff_max_s = backoff_max_s
        self.outbox_poll_s = outbox_poll_s
        self.stats = PublisherStats()
        self.connected = False
        # (reading, connection epoch it was queued in; -1 = queued while disconnected)
        self._queue: deque[tuple[Reading, int]] = deque()
        self._epoch = 0
        self._readings_ready = asyncio.Event()
        self._outbox_wake = asyncio.Event()
        self._status_wake = asyncio.Event()
        self._statuses: dict[str, InstrumentStatus] = {}
        self._dirty_statuses: set[str] = set()
        self._stopping = False
        self._sub: Subscription[Message] | None = None
        self._tasks: list[asyncio.Task[None]] = []

    # -- life cycle ---------------------------------------------------------------
    async def start(self) -> None:
        """Subscribe to the bus and start connecting (returns at once)."""
        self._sub = self.bus.subscribe(
            "mqtt", (Reading, InstrumentStatus, RunEvent, Alarm), maxsize=10_000
        )
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._pump(), name="mqtt-pump"),
            loop.create_task(self._run(), name="mqtt-connection"),
        ]

    async def stop(self, timeout_s: float = 3.0) -> None:
        """Send what is queued (bounded by ``timeout_s``), publish ``offline``, disconnect."""
        self._stopping = True
        self._readings_ready.set()
        self._outbox_wake.set()
        self._status_wake.set()
        pump, run = self._tasks if self._tasks else (None, None)
        if run is not None:
            try:
                await asyncio.wait_for(asyncio.shield(run), timeout_s)
            except TimeoutError:
                log.warning("MQTT: %d readings not sent at shutdown", len(self._queue))
                run.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await run
        if pump is not None:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump
        if self._sub is not None:
            self.bus.unsubscribe(self._sub)
        self.connected = False

    def wake_outbox(self) -> None:
        """A message was committed to the outbox outside a run's events (a queue
        change): drain now instead of at the next poll."""
        self._outbox_wake.set()

    @property
    def queue_depth(self) -> int:
        """Readings waiting to be published."""
        return len(self._queue)

    @property
    def state(self) -> str:
        """``connected`` or ``disconnected`` (for status and metrics)."""
        return "connected" if self.connected else "disconnected"

    # -- intake -------------------------------------------------------------------
    async def _pump(self) -> None:
        assert self._sub is not None
        async for message in self._sub:
            if isinstance(message, Reading):
                self._enqueue(message)
            elif isinstance(message, InstrumentStatus):
                self._statuses[message.instrument] = message
                self._dirty_statuses.add(message.instrument)
                self._status_wake.set()
            else:  # RunEvent / Alarm: their outbox row is committed, go and drain it
                self._outbox_wake.set()

    def _enqueue(self, reading: Reading) -> None:
        if len(self._queue) >= self.readings_queue_max:
            self._queue.popleft()
            self.stats.readings_dropped += 1
            if self.stats.readings_dropped == 1 or self.stats.readings_dropped % 1000 == 0:
                log.warning(
                    "MQTT readings queue full (%d): %d oldest readings dropped so far",
                    self.readings_queue_max, self.stats.readings_dropped,
                )
        self._queue.append((reading, self._epoch if self.connected else -1))
        self._readings_ready.set()

    # -- connection -----------------------------------------------------------------
    def _client(self) -> aiomqtt.Client:
        return aiomqtt.Client(
            self.host,
            self.port,
            identifier=self.client_id,
            username=self.username,
            password=self.password,
            will=aiomqtt.Will(self.topics.service_status, b"offline", qos=1, retain=True),
            socket_options=[NODELAY],
            keepalive=10,
            timeout=5,
        )

    async def _run(self) -> None:
        backoff = 0.1
        while not self._stopping:
            client = self._client()
            try:
                async with client:
                    self._epoch += 1
                    self.connected = True
                    self.stats.connects += 1
                    backoff = 0.1
                    log.info("MQTT connected to %s:%d", self.host, self.port)
                    await client.publish(self.topics.service_status, b"online", qos=1, retain=True)
                    self._dirty_statuses.update(self._statuses)
                    self._status_wake.set()
                    self._outbox_wake.set()
                    await self._serve(client)
                    if self._stopping:
                        await client.publish(
                            self.topics.service_status, b"offline", qos=1, retain=True
                        )
                        return
            except (aiomqtt.MqttError, OSError) as exc:
                self._lost(exc)
            finally:
                self.connected = False
            if self._stopping:
                return
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.backoff_max_s)

    def _lost(self, exc: BaseException) -> None:
        if self.connected:
            self.stats.disconnects += 1
            log.warning("MQTT link to %s:%d lost: %s", self.host, self.port, exc)
        else:
            self.stats.connect_failures += 1
            if self.stats.connect_failures in (1, 10) or self.stats.connect_failures % 100 == 0:
                log.warning("MQTT broker %s:%d unreachable: %s", self.host, self.port, exc)
        self.stats.last_error = str(exc) or type(exc).__name__

    async def _serve(self, client: aiomqtt.Client) -> None:
        """Run the senders until the link drops (raises) or the service stops (returns)."""
        senders = [
            asyncio.create_task(self._send_readings(client)),
            asyncio.create_task(self._send_statuses(client)),
        ]
        if self.outbox is not None:
            senders.append(asyncio.create_task(self._drain_outbox(client)))
        watch = asyncio.create_task(self._watch(client))
        try:
            pending: set[asyncio.Task[None]] = set(senders)
            while pending:
                done, _ = await asyncio.wait(
                    [*pending, watch], return_when=asyncio.FIRST_COMPLETED
                )
                for task in done:
                    error = None if task.cancelled() else task.exception()
                    if error is not None:
                        raise error
                    if task is watch:
                        raise aiomqtt.MqttError("connection closed")
                pending -= done
            # every sender returned: we are stopping; one last pass over the outbox
            if self.outbox is not None:
                await self.outbox.drain(self._publisher(client))
        finally:
            for task in [*senders, watch]:
                task.cancel()
            await asyncio.gather(*senders, watch, return_exceptions=True)

    async def _watch(self, client: aiomqtt.Client) -> None:
        # We subscribe to nothing: the iterator only ends by raising when the link drops.
        async for _ in client.messages:
            pass

    async def _send_readings(self, client: aiomqtt.Client) -> None:
        """Hand every queued reading to the connection at once; track which were written."""
        connection = paho_client(client)
        unwritten: deque[tuple[paho.MQTTMessageInfo, tuple[Reading, int]]] = deque()
        try:
            while True:
                while unwritten and unwritten[0][0].is_published():
                    unwritten.popleft()
                if len(unwritten) >= MAX_UNWRITTEN_READINGS:
                    await asyncio.sleep(0.001)  # the broker reads slower than we publish
                    continue
                if not self._queue:
                    if self._stopping:
                        await self._written(unwritten)
                        return
                    self._readings_ready.clear()
                    await self._readings_ready.wait()
                    continue
                while self._queue and len(unwritten) < MAX_UNWRITTEN_READINGS:
                    reading, epoch = item = self._queue.popleft()
                    # Late = queued before this connection came up (during an outage, or
                    # caught in the queue when the link dropped).
                    late = epoch != self._epoch
                    info = connection.publish(
                        self.topics.readings(reading.instrument),
                        reading_payload(reading, replayed=late), qos=0)
                    if info.rc != paho.MQTT_ERR_SUCCESS:
                        self._queue.appendleft(item)
                        raise aiomqtt.MqttCodeError(info.rc, "Could not publish reading")
                    unwritten.append((info, item))
                    self.stats.readings_published += 1
                    if late:
                        self.stats.readings_replayed += 1
                await asyncio.sleep(0)  # let the connection write them
        finally:
            self._requeue_unwritten(unwritten)

    @staticmethod
    async def _written(unwritten: deque[tuple[paho.MQTTMessageInfo, tuple[Reading, int]]]
                       ) -> None:
        """Wait (while the link holds) until the connection wrote every handed reading."""
        while unwritten:
            if unwritten[0][0].is_published():
                unwritten.popleft()
            else:
                await asyncio.sleep(0.001)

    def _requeue_unwritten(
        self, unwritten: deque[tuple[paho.MQTTMessageInfo, tuple[Reading, int]]]
    ) -> None:
        """Readings handed to a connection that dropped before writing them go back to the
        front of the queue, in order, to be sent (late) on the next one."""
        back = [item for info, item in unwritten if not info.is_published()]
        for reading, _ in reversed(back):
            self._queue.appendleft((reading, -1))
        self.stats.readings_published -= len(back)
        self.stats.readings_replayed -= sum(1 for _, epoch in back if epoch != self._epoch)

    async def _send_statuses(self, client: aiomqtt.Client) -> None:
        while True:
            while self._dirty_statuses:
                name = self._dirty_statuses.pop()
                status = self._statuses[name]
                try:
                    await client.publish(
                        self.topics.instrument_status(name), status.state.encode(),
                        qos=1, retain=True,
                    )
                except aiomqtt.MqttError:
                    self._dirty_statuses.add(name)
                    raise
                self.stats.statuses_published += 1
            if self._stopping:
                return
            self._status_wake.clear()
            await self._status_wake.wait()

    def _publisher(self, client: aiomqtt.Client) -> PublishFn:
        async def publish(topic: str, payload: bytes, qos: int, retain: bool) -> None:
            await client.publish(topic, payload, qos=qos, retain=retain)

        return publish

    async def _drain_outbox(self, client: aiomqtt.Client) -> None:
        assert self.outbox is not None
        publish = self._publisher(client)
        while True:
            self._outbox_wake.clear()
            try:
                await self.outbox.drain(publish)
            except aiomqtt.MqttError:
                raise
            except Exception as exc:  # database locked or down: retry on the next wake
                self.outbox.stats.db_errors += 1
                log.warning("MQTT outbox: database error, will retry: %s", exc)
            if self._stopping:
                return
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.outbox_poll_s):  # cancellable (3.11 wait_for)
                    await self._outbox_wake.wait()
