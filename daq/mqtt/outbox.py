"""Drains the durable ``mqtt_outbox`` table to the broker, oldest first.

Run events, results and alarms are written to the outbox in the same transaction as the
record itself (``DbRecorder``), so anything on record reaches the broker eventually:
after a broker outage and after a service crash. Rows go out in id order, at most
``window`` PUBACKs awaited at once (below aiomqtt's pending-calls threshold). The default
window is 1, by measurement: on this machine an awaited QoS 1 loop reaches ~4–5 k msg/s
through aiomqtt/paho, while 2–8 concurrent QoS 1 publishes collapse to 130–350 msg/s
(QoS 0 gains ~1.7× from a window; QoS 1 does not). only the
contiguous acknowledged prefix of a batch is marked published (one UPDATE per batch), so
a failure in the middle re-sends from the first unacknowledged row and order holds. A
row published but not yet marked when the service dies is sent again after restart:
consumers de-duplicate on the payload's unique ``id``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from daq.clock import SimClock
from daq.mqtt.topics import outbox_payload
from daq.storage.models import MqttOutbox

log = logging.getLogger(__name__)

#: publish(topic, payload, qos, retain) — raises when the broker is gone.
PublishFn = Callable[[str, bytes, int, bool], Awaitable[None]]


@dataclass
class OutboxStats:
    """What the drainer has done (for /metrics)."""

    published: int = 0
    failures: int = 0
    db_errors: int = 0
    last_published_id: int = 0


@dataclass(frozen=True)
class _Row:
    id: int
    message_id: str
    topic: str
    payload: str
    qos: int
    retain: bool


class OutboxDrainer:
    """Publishes unpublished outbox rows in order and marks them published."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: SimClock,
        *,
        window: int = 1,
        batch: int = 100,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.window = max(1, window)
        self.batch = max(self.window, batch)
        self.stats = OutboxStats()

    async def pending(self) -> int:
        """Rows not yet published (a gauge for /metrics)."""
        async with self.sessions() as session:
            count = await session.scalar(
                select(func.count()).select_from(MqttOutbox).where(
                    MqttOutbox.published_ts.is_(None)
                )
            )
        return int(count or 0)

    async def _next_rows(self) -> list[_Row]:
        async with self.sessions() as session:
            result = await session.execute(
                select(
                    MqttOutbox.id, MqttOutbox.message_id, MqttOutbox.topic,
                    MqttOutbox.payload, MqttOutbox.qos, MqttOutbox.retain,
                )
                .where(MqttOutbox.published_ts.is_(None))
                .order_by(MqttOutbox.id)
                .limit(self.batch)
            )
            return [_Row(*r) for r in result.all()]

    async def _mark(self, ids: list[int], *, published: bool) -> None:
        values: dict[str, object] = {"attempts": MqttOutbox.attempts + 1}
        if published:
            values["published_ts"] = self.clock.now()
        async with self.sessions() as session, session.begin():
            await session.execute(update(MqttOutbox).where(MqttOutbox.id.in_(ids)).values(values))

    async def drain(self, publish: PublishFn) -> int:
        """Publish everything pending now; return how many rows went out.

        Raises whatever ``publish`` raises (the broker went away) after marking the
        acknowledged prefix, so the caller reconnects and calls again.
        """
        sent = 0
        while True:
            rows = await self._next_rows()
            if not rows:
                return sent
            acked: list[int] = []
            error: BaseException | None = None
            for start in range(0, len(rows), self.window):
                chunk = rows[start : start + self.window]
                results = await asyncio.gather(
                    *(
                        publish(
                            r.topic,
                            outbox_payload(r.payload, seq=r.id, message_id=r.message_id),
                            r.qos,
                            r.retain,
                        )
                        for r in chunk
                    ),
                    return_exceptions=True,
                )
                for row, outcome in zip(chunk, results, strict=True):
                    if isinstance(outcome, BaseException):
                        error = outcome
                        break
                    acked.append(row.id)
                if error is not None:
                    break
            # One UPDATE per batch: a crash before it re-sends at most one batch, which
            # consumers drop by ``id``.
            if acked:
                await self._mark(acked, published=True)
                sent += len(acked)
                self.stats.published += len(acked)
                self.stats.last_published_id = acked[-1]
            if error is not None:
                self.stats.failures += 1
                await self._mark([rows[len(acked)].id], published=False)
                raise error
