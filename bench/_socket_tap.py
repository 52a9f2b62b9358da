"""The station's share of a reading's way to MQTT: sample → written to its own socket.

``bench/latency.py`` measures sample → received by a subscriber, which on one 2-core
machine also holds the time the broker and the subscriber wait for a core beside the
simulators. This tap splits that: while it is on, every packet the station's paho client
writes to its socket is looked into, and for a reading (its JSON payload starts with
``"ts"``) the age of the sample at the moment the write returned is kept. It wraps paho's
private ``Client._sock_send`` for the length of a measurement, in the bench process only.
"""

from __future__ import annotations

import re
import time
from array import array
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import paho.mqtt.client as paho

_TS = re.compile(rb'\{"ts":([0-9]+(?:\.[0-9]+)?)')


@contextmanager
def socket_tap() -> Iterator[array[float]]:
    """While open: the ages (s) at which readings were written to the station's socket."""
    ages: array[float] = array("d")
    original = paho.Client._sock_send

    def send(self: paho.Client, buf: Any) -> int:
        written: int = original(self, buf)
        now = time.time()
        found = _TS.search(bytes(buf[:512]))
        if found is not None and written == len(buf):
            ages.append(now - float(found.group(1)))
        return written

    paho.Client._sock_send = send  # type: ignore[method-assign]
    try:
        yield ages
    finally:
        paho.Client._sock_send = original  # type: ignore[method-assign]
