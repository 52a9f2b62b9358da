"""Property tests of what turns wire text into values: SCPI numbers, lists and error-queue
entries, received lines, and VISA resource strings. Bad input is always a typed error."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.errors import InvalidResource, ProtocolError
from drivers.scpi import parse_bool, parse_error, parse_float, parse_floats
from drivers.transport.base import decode_line
from drivers.transport.resource import parse_resource

finite = st.floats(allow_nan=False, allow_infinity=False)
printable = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E))


@given(st.lists(finite, min_size=1, max_size=8))
def test_number_lists_round_trip(values: list[float]) -> None:
    reply = ",".join(repr(v) for v in values)
    assert parse_floats(reply, len(values)) == values


@given(st.lists(finite, min_size=1, max_size=8), st.integers(1, 9))
def test_wrong_field_count_is_a_protocol_error(values: list[float], count: int) -> None:
    reply = ",".join(repr(v) for v in values)
    if count == len(values):
        assert len(parse_floats(reply, count)) == count
    else:
        with pytest.raises(ProtocolError):
            parse_floats(reply, count)


@given(printable)
def test_any_reply_is_a_number_or_a_protocol_error(reply: str) -> None:
    try:
        value = parse_float(reply)
    except ProtocolError as exc:
        assert exc.reply == reply
    else:
        assert isinstance(value, float)
        assert math.isnan(value) or value == float(reply.strip())


@given(st.integers(-999, 999), printable)
def test_error_queue_entries_round_trip(code: int, text: str) -> None:
    assert parse_error(f'{code},"{text}"') == (code, text)


@given(printable)
def test_any_error_reply_parses_or_is_a_protocol_error(reply: str) -> None:
    try:
        code, text = parse_error(reply)
    except ProtocolError:
        return
    assert isinstance(code, int) and isinstance(text, str)


def test_bool_replies() -> None:
    assert parse_bool("ON") and parse_bool(" 1 ") and not parse_bool("off")
    with pytest.raises(ProtocolError):
        parse_bool("maybe")


@given(printable)
def test_printable_lines_decode_unchanged(text: str) -> None:
    assert decode_line(text.encode() + b"\r\n") == text.rstrip("\r\n")


@given(st.binary())
def test_any_bytes_decode_or_are_called_garbage(raw: bytes) -> None:
    try:
        text = decode_line(raw + b"\n")
    except ProtocolError:
        assert any((b < 0x20 and b not in b"\t\n") or b >= 0x7F for b in raw)
    else:
        assert text.isascii()


@given(st.from_regex(r"[a-z0-9.\-]{1,30}", fullmatch=True), st.integers(1, 65535))
def test_socket_resources(host: str, port: int) -> None:
    parsed = parse_resource(f"TCPIP0::{host}::{port}::SOCKET")
    assert (parsed.kind, parsed.host, parsed.port) == ("tcp", host, port)


@pytest.mark.parametrize(("text", "kind", "device"), [
    ("ASRL/dev/ttyUSB0::INSTR", "serial", "/dev/ttyUSB0"),
    ("ASRL3::INSTR", "serial", "/dev/ttyS2"),
    ("/dev/pts/7", "serial", "/dev/pts/7"),
    ("/tmp/lamina-sim-peel", "serial", "/tmp/lamina-sim-peel"),
    ("GPIB0::12::INSTR", "visa", None),
    ("USB0::0x0957::0x1796::MY1234::INSTR", "visa", None),
    ("TCPIP::10.0.0.5::inst0::INSTR", "visa", None),
])
def test_resource_kinds(text: str, kind: str, device: str | None) -> None:
    parsed = parse_resource(text)
    assert parsed.kind == kind and parsed.device == device


@given(printable)
def test_any_text_is_a_resource_or_invalid(text: str) -> None:
    try:
        parsed = parse_resource(text)
    except InvalidResource:
        return
    assert parsed.kind in {"tcp", "serial", "visa"}
