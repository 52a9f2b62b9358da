"""Topic names, payload shapes and broker URLs (pure functions, property-tested)."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daq.messages import Reading, Value
from daq.mqtt.topics import MqttUrlError, Topics, outbox_payload, parse_mqtt_url, reading_payload

channel = st.text(st.characters(categories=["Ll", "Nd"]), min_size=1, max_size=12)
finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


def test_topic_tree_follows_the_contract() -> None:
    t = Topics("lamina/lab1")
    assert t.readings("press1") == "lamina/lab1/instruments/press1/readings"
    assert t.instrument_status("press1") == "lamina/lab1/instruments/press1/status"
    assert t.service_status == "lamina/lab1/service/status"
    assert t.run_events("press-1") == "lamina/lab1/runs/press-1/events"
    assert t.alarms == "lamina/lab1/alarms"


@given(
    ts=st.floats(min_value=0, max_value=4e9),
    values=st.dictionaries(channel, st.tuples(finite, st.sampled_from(["degC", "MPa", "mm"]))),
    run_id=st.none() | st.text(min_size=1, max_size=20),
    replayed=st.booleans(),
)
def test_reading_payload_round_trips(
    ts: float, values: dict[str, tuple[float, str]], run_id: str | None, replayed: bool
) -> None:
    reading = Reading("press1", ts, {k: Value(v, u) for k, (v, u) in values.items()}, run_id)
    body = json.loads(reading_payload(reading, replayed=replayed))
    assert body["ts"] == ts
    assert body["run_id"] == run_id
    assert body["replayed"] is replayed
    assert body["time"].endswith("+00:00")
    assert {k: (v["v"], v["unit"]) for k, v in body["values"].items()} == values
    assert all(math.isfinite(v["v"]) for v in body["values"].values())


def test_outbox_payload_gets_seq_and_keeps_id() -> None:
    body = json.loads(outbox_payload('{"id": "abc", "kind": "transition"}', seq=7, message_id="x"))
    assert body == {"id": "abc", "kind": "transition", "seq": 7}
    body = json.loads(outbox_payload('{"kind": "note"}', seq=8, message_id="m-8"))
    assert body["id"] == "m-8" and body["seq"] == 8
    assert json.loads(outbox_payload("not json", seq=9, message_id="m"))["raw"] == "not json"


def test_broker_urls() -> None:
    assert parse_mqtt_url("embedded", 1884).embedded
    address = parse_mqtt_url("mqtt://127.0.0.1:1883", 1884)
    assert (address.host, address.port, address.embedded) == ("127.0.0.1", 1883, False)
    assert parse_mqtt_url("mqtt://broker.lab", 1884).port == 1883
    for bad in ("http://x:1", "mqtt://", "garbage", "mqtt://h:notaport"):
        with pytest.raises(MqttUrlError, match="DAQ_MQTT_URL"):
            parse_mqtt_url(bad, 1884)
