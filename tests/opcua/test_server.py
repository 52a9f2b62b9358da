"""The station's OPC UA server against an asyncua client: browse, read live press values
during a cycle, the Run object, read-only, and who may log in."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from pathlib import Path

import pytest
from asyncua import Client, ua
from asyncua.ua import uaerrors

from daq.api import accounts
from daq.bus import Subscription
from daq.messages import Message, Reading
from daq.opcua import users as users_module
from daq.opcua.server import OpcUaError
from daq.station.lab import Lab
from tests.api.conftest import station_settings
from tests.opcua.conftest import NAMESPACE, OpcStation, eventually, node_of, opc_station

pytestmark = pytest.mark.slow


def as_datetime(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC)


async def test_a_viewer_browses_the_station_and_finds_the_platen_temperatures_in_degc(
    station: OpcStation,
) -> None:
    first = station.lab.bus.subscribe("test", (Reading,))
    while (await first.get()).instrument != "press1":  # channels appear with a reading
        pass
    async with station.client("viewer1", station.passwords["viewer"]) as client:
        ns = await client.get_namespace_index(NAMESPACE)
        lamina = await client.nodes.objects.get_child(f"{ns}:Lamina")
        names = {(await n.read_browse_name()).Name for n in await lamina.get_children()}
        assert {"press1", "peel1", "oven1", "laser1", "Run", "Station"} <= names
        press = await lamina.get_child(f"{ns}:press1")
        await eventually(lambda: _has_child(press, f"{ns}:temp_bottom"), "temp_bottom")
        for channel in ("temp_top", "temp_bottom"):
            var = await press.get_child(f"{ns}:{channel}")
            assert await var.read_data_type_as_variant_type() == ua.VariantType.Double
            eu = await (await var.get_child("0:EngineeringUnits")).read_value()
            # degree Celsius in the OPC UA units table (UNECE code CEL)
            assert (eu.UnitId, eu.DisplayName.Text) == (4408652, "°C")
            assert 15.0 < await var.read_value() < 40.0  # a press at room temperature
        status = await press.get_child(f"{ns}:Status")
        assert await status.read_value() == "online"
        assert await (await press.get_child(f"{ns}:Driver")).read_value() == "lamination_press"
        # The peel tester is not polled (it streams while it peels): online as connected.
        assert await (await node_of(client, "peel1.Status")).read_value() == "online"


async def _has_child(node: object, name: str) -> bool:
    try:
        await node.get_child(name)  # type: ignore[attr-defined]
    except uaerrors.BadNoMatch:
        return False
    return True


@pytest.mark.timing  # "within one poll": the update must not take a whole poll interval
async def test_a_cycles_platen_temperatures_are_readable_within_one_poll_and_the_run_shows(
    station: OpcStation,
) -> None:
    lab = station.lab
    readings = lab.bus.subscribe("test-dashboard", (Reading,))
    seen: dict[float, Reading] = {}
    async with station.client("viewer1", station.passwords["viewer"]) as client:
        top, bottom = await node_of(client, "press1.temp_top"), await node_of(client,
                                                                              "press1.temp_bottom")
        run_id = await lab.start_press_cycle({}, "operator1")
        kind, state, run_node = (await node_of(client, "Run.Kind"),
                                 await node_of(client, "Run.State"),
                                 await node_of(client, "Run.RunId"))

        async def running() -> bool:
            return (await run_node.read_value() == run_id
                    and await state.read_value() == "RUNNING")

        await eventually(running, "the Run object shows the cycle")
        assert await kind.read_value() == "press_cycle"

        # The dashboard shows reading R; when the next poll's reading R+1 arrives, OPC UA
        # shows R or later: its value is the one of the reading stamped as it says.
        checked = 0
        previous: Reading | None = None
        while checked < 40:
            reading = await readings.get()
            if reading.instrument != "press1":
                continue
            seen[reading.ts] = reading
            if reading.run_id != run_id:
                continue
            if previous is not None:
                for node, channel in ((top, "temp_top"), (bottom, "temp_bottom")):
                    value = await node.read_data_value()
                    # (a float ts kept to the microsecond, OPC UA's DateTime to 100 ns)
                    assert value.SourceTimestamp >= (as_datetime(previous.ts)
                                                     - dt.timedelta(microseconds=1))
                    shown = await _stamped(seen, value.SourceTimestamp, readings)
                    assert value.Value.Value == shown.values[channel].v
                checked += 1
            previous = reading
        heated = max(r.values["temp_top"].v for r in seen.values())
        assert heated > 30.0  # the platens were heating while we read them

        progress = await node_of(client, "Run.Progress")
        phase = await node_of(client, "Run.Phase")
        fractions: list[float] = []
        while lab.run_engine.is_live(run_id):
            fractions.append(await progress.read_value())
            await asyncio.sleep(0.05)
        await lab.wait_run(run_id, timeout_s=120)

        async def done() -> bool:
            return await state.read_value() == "DONE"

        await eventually(done, "the Run object shows DONE")
        assert await phase.read_value() == "DONE"
        assert await progress.read_value() == 1.0
        assert fractions == sorted(fractions) and any(0.0 < f < 1.0 for f in fractions)


async def _stamped(seen: dict[float, Reading], when: dt.datetime,
                   readings: Subscription[Message]) -> Reading:
    """The reading whose ts is ``when`` (OPC UA keeps 100 ns; a float ts, microseconds);
    OPC UA may be ahead of this test's own queue: it reads on until it has seen it."""
    while as_datetime(max(seen)) < when - dt.timedelta(microseconds=1):
        reading = await readings.get()
        if isinstance(reading, Reading) and reading.instrument == "press1":
            seen[reading.ts] = reading
    matches = [r for ts, r in seen.items() if abs(as_datetime(ts) - when)
               <= dt.timedelta(microseconds=1)]
    assert len(matches) == 1, f"no reading stamped {when}"
    return matches[0]


async def test_every_variable_is_read_only_and_a_write_is_refused(station: OpcStation) -> None:
    async with station.client("admin1", station.passwords["admin"]) as client:
        for ident in ("press1.Status", "Run.State", "Station"):
            node = await node_of(client, ident)
            before = await node.read_value()
            access = await node.read_attribute(ua.AttributeIds.AccessLevel)
            assert access.Value.Value == ua.AccessLevel.CurrentRead.mask  # 1: read only
            with pytest.raises((uaerrors.BadUserAccessDenied, uaerrors.BadNotWritable)):
                await node.write_value(ua.Variant("tampered", ua.VariantType.String))
            assert await node.read_value() == before


async def test_only_enabled_station_users_get_in(
    station: OpcStation, monkeypatch: pytest.MonkeyPatch
) -> None:
    hashed_on: list[str] = []
    verify = users_module._verify

    def watched(password_hash: str, password: str) -> bool:
        hashed_on.append(threading.current_thread().name)
        return verify(password_hash, password)

    monkeypatch.setattr(users_module, "_verify", watched)
    async with station.lab.sessions() as session:
        await accounts.add_user(session, "gone1", "operator", "gone-pw-123")
        await accounts.change_user(session, "gone1", disabled=True)
    refused: list[tuple[str | None, str | None]] = [
        (None, None),  # anonymous
        ("viewer1", "wrong-password"),
        ("nobody", "viewer-pw-123"),
        ("gone1", "gone-pw-123"),
    ]
    for user, password in refused:
        with pytest.raises((uaerrors.BadUserAccessDenied, uaerrors.BadIdentityTokenRejected,
                            uaerrors.BadIdentityTokenInvalid)):
            async with station.client(user, password):
                pass
    for role in ("viewer", "operator", "admin"):
        async with station.client(f"{role}1", station.passwords[role]) as client:
            assert await (await node_of(client, "Station")).read_value() == "lab1"
    assert station.lab.opcua is not None
    assert station.lab.opcua.users.logins == 3 and station.lab.opcua.users.refused == 3
    # Every password was hashed, wrong names too, and never on the station's loop (this
    # test's thread) nor on the OPC UA server's.
    assert len(hashed_on) == 6
    assert not {threading.current_thread().name, "opcua-server"} & set(hashed_on)


async def test_anonymous_reads_only_where_the_station_allows_it(tmp_path: Path) -> None:
    async with (opc_station(tmp_path, opcua_allow_anonymous=True) as station,
                station.client() as client):
        status = await node_of(client, "press1.Driver")
        assert await status.read_value() == "lamination_press"
        with pytest.raises((uaerrors.BadUserAccessDenied, uaerrors.BadNotWritable)):
            await status.write_value(ua.Variant("x", ua.VariantType.String))


def hello(url: str) -> bytes:
    """An OPC UA Hello message (Part 6, 7.1.2.3) for ``url``."""
    body = (b"".join(v.to_bytes(4, "little") for v in (0, 65536, 65536, 0, 0))
            + len(url).to_bytes(4, "little") + url.encode())
    return b"HELF" + (8 + len(body)).to_bytes(4, "little") + body


async def answers_opcua(port: int) -> bool:
    """True if whatever listens on ``port`` answers a Hello with an OPC UA Acknowledge."""
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    try:
        writer.write(hello(f"opc.tcp://127.0.0.1:{port}"))
        await writer.drain()
        async with asyncio.timeout(3.0):
            head = await reader.read(4)
    except (TimeoutError, OSError):
        return False
    finally:
        writer.close()
    return head.startswith(b"ACK")


def listening_ports() -> set[int]:
    import psutil

    return {c.laddr.port for c in psutil.Process().net_connections("tcp")
            if c.status == psutil.CONN_LISTEN}


async def test_a_station_without_opcua_url_opens_no_opcua_port(tmp_path: Path) -> None:
    before = listening_ports()
    async with Lab(station_settings(tmp_path)) as lab:
        assert lab.settings.opcua_url is None and lab.opcua is None
        assert not any(t.name == "opcua-server" for t in threading.enumerate())
        new = listening_ports() - before
        assert new  # the simulators and the broker listen
        assert not any(await asyncio.gather(*(answers_opcua(p) for p in new)))
    (tmp_path / "on").mkdir()
    async with opc_station(tmp_path / "on") as station:  # the probe sees a server when there
        assert station.lab.opcua is not None
        assert await answers_opcua(station.lab.opcua.port)


async def test_the_client_of_the_readme_reads_a_value(station: OpcStation) -> None:
    client = Client(f"opc.tcp://viewer1:{station.passwords['viewer']}@127.0.0.1:"
                    f"{station.url.rsplit(':', 1)[1]}")
    async with client:
        assert await (await node_of(client, "press1.Status")).read_value() in (
            "online", "connecting")


async def test_a_taken_port_stops_the_start_naming_the_endpoint(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        url = f"opc.tcp://127.0.0.1:{taken.getsockname()[1]}"
        with pytest.raises(OpcUaError, match=f"OPC UA server not started at {url}"):
            async with Lab(station_settings(tmp_path, opcua_url=url)):
                pass
    assert not any(t.name == "opcua-server" for t in threading.enumerate())
