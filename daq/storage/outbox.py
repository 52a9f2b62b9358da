"""The durable MQTT outbox: QoS 1 messages written in the same transaction as what they
announce, drained in ``id`` order by the MQTT publisher.

Each message carries a fresh uuid4 ``id`` (consumers de-duplicate on it) and ``seq``, the
outbox row id, which is the delivery order.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from daq.clock import iso
from daq.storage.models import MqttOutbox


def events_topic(prefix: str, run_id: str) -> str:
    """Topic of a run's events and results (QoS 1)."""
    return f"{prefix}/runs/{run_id}/events"


def alarms_topic(prefix: str) -> str:
    """Topic of alarms (QoS 1)."""
    return f"{prefix}/alarms"


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON: NaN/inf become null, tuples lists, keys text, odd types text.

    PostgreSQL's JSON and most MQTT consumers reject NaN, so it never reaches either.
    """
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, Sequence | set | frozenset) and not isinstance(value, bytes | bytearray):
        return [jsonable(v) for v in value]
    return str(value)


def dumps(body: Mapping[str, Any]) -> str:
    """Compact JSON text of a message body."""
    return json.dumps(jsonable(body), separators=(",", ":"), allow_nan=False)


async def enqueue(
    session: AsyncSession,
    topic: str,
    body: Mapping[str, Any],
    *,
    created_ts: float,
    qos: int = 1,
    retain: bool = False,
    message_id: str | None = None,
) -> MqttOutbox:
    """Add a message to the outbox inside the caller's transaction; returns the row.

    The payload is ``{"id": uuid4, "seq": row id, "ts", "time", **body}``; ``ts`` and
    ``time`` come from ``body["ts"]`` (or ``created_ts``). ``message_id`` (default: a
    fresh uuid4) is the journal record's id when the message comes from the journal.
    """
    message_id = message_id or str(uuid.uuid4())
    row = MqttOutbox(
        message_id=message_id,
        topic=topic,
        payload="{}",
        qos=qos,
        retain=retain,
        created_ts=created_ts,
        attempts=0,
    )
    session.add(row)
    await session.flush()  # assigns row.id, the delivery order
    ts = float(body.get("ts", created_ts))
    payload: dict[str, Any] = {"id": message_id, "seq": row.id, "ts": ts, "time": iso(ts)}
    payload.update({k: v for k, v in body.items() if k not in ("id", "seq", "ts", "time")})
    row.payload = dumps(payload)
    return row


async def pending(session: AsyncSession, limit: int = 100) -> list[MqttOutbox]:
    """The oldest unpublished messages, in delivery order."""
    result = await session.scalars(
        select(MqttOutbox)
        .where(MqttOutbox.published_ts.is_(None))
        .order_by(MqttOutbox.id)
        .limit(limit)
    )
    return list(result)


async def mark_published(session: AsyncSession, ids: Sequence[int], published_ts: float) -> None:
    """Record that the broker acknowledged these messages."""
    if ids:
        await session.execute(
            update(MqttOutbox)
            .where(MqttOutbox.id.in_(list(ids)))
            .values(published_ts=published_ts, attempts=MqttOutbox.attempts + 1)
        )
