"""Parsing of VISA resource strings into what a native transport needs."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from drivers.errors import InvalidResource

_SOCKET = re.compile(r"^TCPIP(?:\d+)?::(?P<host>[^:]+)::(?P<port>\d+)::SOCKET$", re.IGNORECASE)
_ASRL = re.compile(r"^ASRL(?P<port>.+?)::INSTR$", re.IGNORECASE)


@dataclass(frozen=True)
class Resource:
    """A parsed resource: ``kind`` says which transport serves it."""

    text: str
    kind: Literal["tcp", "serial", "visa"]
    host: str | None = None
    port: int | None = None
    device: str | None = None


def parse_resource(text: str) -> Resource:
    """Parse a VISA resource string (or a plain serial device path)."""
    text = text.strip()
    if not text:
        raise InvalidResource("empty resource string")
    if m := _SOCKET.match(text):
        return Resource(text, "tcp", host=m["host"], port=int(m["port"]))
    if m := _ASRL.match(text):
        device = m["port"]
        if device.isdigit():
            # VISA numbers serial ports: ASRL1 is the first port.
            device = f"/dev/ttyS{int(device) - 1}"
        return Resource(text, "serial", device=device)
    if text.startswith("/dev/") or text.startswith("/tmp/") or re.match(r"^COM\d+$", text):
        return Resource(f"ASRL{text}::INSTR", "serial", device=text)
    if "::" in text:
        return Resource(text, "visa")
    raise InvalidResource(f"not a VISA resource string or serial port: {text!r}")
