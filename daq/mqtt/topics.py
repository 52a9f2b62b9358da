"""Topic names and payloads of everything the service publishes (docs/interfaces.md).

Readings go out as QoS 0 JSON, instrument and service statuses as retained plain text;
run events and alarms are already JSON in the outbox table and only get their delivery
sequence number (``seq`` = outbox id) added here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from daq.clock import iso
from daq.messages import Reading


@dataclass(frozen=True)
class Topics:
    """The topic tree under one prefix (``DAQ_MQTT_PREFIX``, e.g. ``lamina/lab1``)."""

    prefix: str

    def readings(self, instrument: str) -> str:
        """QoS 0 readings of one instrument."""
        return f"{self.prefix}/instruments/{instrument}/readings"

    def instrument_status(self, instrument: str) -> str:
        """Retained link state of one instrument: online, offline or fault."""
        return f"{self.prefix}/instruments/{instrument}/status"

    @property
    def service_status(self) -> str:
        """Retained service state; the broker publishes ``offline`` as our last will."""
        return f"{self.prefix}/service/status"

    def run_events(self, run_id: str) -> str:
        """QoS 1 transitions and results of one run (through the outbox)."""
        return f"{self.prefix}/runs/{run_id}/events"

    @property
    def queue(self) -> str:
        """QoS 1 changes of the station's run queue (through the outbox)."""
        return f"{self.prefix}/queue"

    @property
    def alarms(self) -> str:
        """QoS 1 alarms (through the outbox)."""
        return f"{self.prefix}/alarms"


def reading_payload(reading: Reading, *, replayed: bool = False) -> bytes:
    """The JSON body of a reading; ``replayed`` marks one published after an outage."""
    body: dict[str, Any] = {
        "ts": reading.ts,
        "time": iso(reading.ts),
        "run_id": reading.run_id,
        "values": {ch: {"v": val.v, "unit": val.unit} for ch, val in reading.values.items()},
        "replayed": replayed or reading.replayed,
    }
    return json.dumps(body, separators=(",", ":")).encode()


def outbox_payload(payload_json: str, *, seq: int, message_id: str) -> bytes:
    """An outbox row's body with its delivery order ``seq`` and unique ``id`` filled in."""
    try:
        body = json.loads(payload_json)
    except ValueError:
        body = {"raw": payload_json}
    if not isinstance(body, dict):
        body = {"data": body}
    body.setdefault("id", message_id)
    body["seq"] = seq
    return json.dumps(body, separators=(",", ":")).encode()


class MqttUrlError(ValueError):
    """``DAQ_MQTT_URL`` is neither ``embedded`` nor ``mqtt://host[:port]``."""


@dataclass(frozen=True)
class BrokerAddress:
    """Where the publisher connects; ``embedded`` means the service runs the broker."""

    host: str
    port: int
    embedded: bool
    username: str | None = None
    password: str | None = None


def parse_mqtt_url(url: str, embedded_port: int) -> BrokerAddress:
    """``embedded`` → 127.0.0.1:``embedded_port`` run in-process; ``mqtt://[user:pw@]h:p`` →
    an external broker (with credentials when the broker requires them)."""
    text = url.strip()
    if text.lower() == "embedded":
        return BrokerAddress("127.0.0.1", embedded_port, embedded=True)
    parts = urlsplit(text)
    if parts.scheme not in ("mqtt", "tcp") or not parts.hostname:
        raise MqttUrlError(
            f"DAQ_MQTT_URL {url!r} is not understood: use 'embedded' or mqtt://host[:port]"
        )
    try:
        port = parts.port or 1883
    except ValueError as exc:
        raise MqttUrlError(f"DAQ_MQTT_URL {url!r} has a bad port: {exc}") from None
    return BrokerAddress(parts.hostname, port, embedded=False,
                         username=unquote(parts.username) if parts.username else None,
                         password=unquote(parts.password) if parts.password else None)
