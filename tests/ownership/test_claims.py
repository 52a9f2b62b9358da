"""Claims in the shared database: one controller per instrument, refusals name the
holder, two racing stations get exactly one winner, stale claims are taken over (and
that is logged and audited), the heartbeat keeps a claim fresh."""

from __future__ import annotations

import asyncio
import logging
import sys
import time

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from daq.station.ownership import InstrumentClaimed, InstrumentClaims, normalise_resource
from daq.storage.claim_models import InstrumentClaim
from daq.storage.models import AuditLog

Sessions = async_sessionmaker[AsyncSession]
PRESS = "TCPIP::127.0.0.1::5025::SOCKET"


@pytest.mark.parametrize(("spelling", "identity"), [
    ("TCPIP::127.0.0.1::5025::SOCKET", "TCPIP::127.0.0.1::5025::SOCKET"),
    ("tcpip0::LocalHost::5025::socket", "TCPIP::localhost::5025::SOCKET"),
    ("ASRL/dev/ttyUSB0::INSTR", "ASRL/dev/ttyUSB0::INSTR"),
    ("/dev/ttyUSB0", "ASRL/dev/ttyUSB0::INSTR"),
    ("ASRL1::INSTR", "ASRL/dev/ttyS0::INSTR"),
    ("GPIB0::12::INSTR", "GPIB::12::INSTR"),
    ("gpib::12", "GPIB::12::INSTR"),
    ("TCPIP0::10.0.0.7::INSTR", "TCPIP::10.0.0.7::inst0::INSTR"),
    ("USB0::0x0957::0x1796::MY123::INSTR", "USB::0X0957::0X1796::MY123::INSTR"),
])
def test_one_instrument_has_one_identity_however_it_is_spelled(
    spelling: str, identity: str) -> None:
    assert normalise_resource(spelling) == identity


def test_a_serial_port_behind_a_symlink_is_the_port_itself(tmp_path: object) -> None:
    from pathlib import Path

    link = Path(str(tmp_path)) / "by-id-press"
    link.symlink_to("/dev/null")
    assert normalise_resource(f"ASRL{link}::INSTR") == "ASRL/dev/null::INSTR"


async def test_second_station_is_refused_naming_the_holder(
    station_sessions: tuple[Sessions, Sessions],
) -> None:
    a, b = station_sessions
    lab2 = InstrumentClaims(a, "lab2", host="bench-7")
    await lab2.claim("press1", "tcpip0::127.0.0.1::5025::socket")
    lab1 = InstrumentClaims(b, "lab1")
    with pytest.raises(InstrumentClaimed) as refused:
        await lab1.claim("press1", PRESS)
    err = refused.value
    assert (err.station, err.host, err.pid) == ("lab2", "bench-7", lab2.pid)
    assert err.heartbeat_age_s < 15
    text = str(err)
    assert text.startswith(f"press1 ({PRESS}) is held by station lab2 (host bench-7, "
                           f"pid {lab2.pid}) since 20"), text
    assert text.endswith(" s ago") and "Z, heartbeat " in text
    assert lab1.held == {}


async def test_the_same_station_started_twice_is_refused(
    station_sessions: tuple[Sessions, Sessions],
) -> None:
    a, b = station_sessions
    first, second = InstrumentClaims(a, "lab1"), InstrumentClaims(b, "lab1")
    await first.claim("press1", PRESS)
    with pytest.raises(InstrumentClaimed, match="held by station lab1"):
        await second.claim("press1", PRESS)
    await first.claim("press1", PRESS)  # its own claim again: fine


async def test_two_concurrent_claimers_exactly_one_wins(
    station_sessions: tuple[Sessions, Sessions],
) -> None:
    a, b = station_sessions
    for round_ in range(8):
        resource = f"TCPIP::127.0.0.1::{6000 + round_}::SOCKET"
        lab1, lab2 = InstrumentClaims(a, "lab1"), InstrumentClaims(b, "lab2")
        results = await asyncio.gather(lab1.claim("press1", resource),
                                       lab2.claim("press1", resource),
                                       return_exceptions=True)
        won = [r for r in results if isinstance(r, str)]
        refused = [r for r in results if isinstance(r, InstrumentClaimed)]
        assert len(won) == 1 and len(refused) == 1, results
        async with a() as session:
            rows = list(await session.scalars(
                select(InstrumentClaim).where(InstrumentClaim.resource == resource)))
        winner = lab1 if lab1.held else lab2
        assert [r.instance for r in rows] == [winner.instance]
        assert refused[0].station == winner.station


async def test_all_or_nothing_a_refused_instrument_releases_the_others(
    station_sessions: tuple[Sessions, Sessions],
) -> None:
    a, b = station_sessions
    await InstrumentClaims(a, "lab2").claim("oven1", "TCPIP::127.0.0.1::5027::SOCKET")
    lab1 = InstrumentClaims(b, "lab1")
    with pytest.raises(InstrumentClaimed, match="oven1"):
        await lab1.claim_all({"press1": PRESS, "oven1": "TCPIP::127.0.0.1::5027::SOCKET"})
    assert lab1.held == {}
    await InstrumentClaims(a, "lab3").claim("press1", PRESS)  # press1 was let go again


async def _age_heartbeat(sessions: Sessions, resource: str, seconds: float) -> None:
    """Make a claim look as if its station stopped beating ``seconds`` ago."""
    async with sessions() as session, session.begin():
        await session.execute(update(InstrumentClaim)
                              .where(InstrumentClaim.resource == resource)
                              .values(heartbeat=time.time() - seconds))


async def test_stale_claim_is_taken_over_logged_and_audited(
    station_sessions: tuple[Sessions, Sessions], caplog: pytest.LogCaptureFixture,
) -> None:
    a, b = station_sessions
    gone = InstrumentClaims(a, "lab2", host="bench-7")  # another host: its pid says nothing
    await gone.claim("press1", PRESS)
    lab1 = InstrumentClaims(b, "lab1", heartbeat_s=5.0)  # stale after 3 × 5 s = 15 s
    await _age_heartbeat(a, PRESS, 14.0)  # a beat late but inside the bound: still held
    with pytest.raises(InstrumentClaimed, match="heartbeat 14 s ago"):
        await lab1.claim("press1", PRESS)
    await _age_heartbeat(a, PRESS, 16.0)  # one second past the bound: stale
    with caplog.at_level(logging.WARNING, logger="daq.station.ownership"):
        await lab1.claim("press1", PRESS)
    assert any("took over press1" in r.message and "from station lab2 (host bench-7"
               in r.message for r in caplog.records), caplog.text
    async with b() as session:
        row = await session.get(InstrumentClaim, PRESS)
        audit = list(await session.scalars(
            select(AuditLog).where(AuditLog.action == "instrument.claim_takeover")))
    assert row is not None and (row.station, row.instance) == ("lab1", lab1.instance)
    assert len(audit) == 1 and audit[0].target == PRESS
    assert audit[0].detail["previous"]["station"] == "lab2"
    assert audit[0].detail["previous"]["heartbeat_age_s"] >= 16.0
    # The old holder notices at its next heartbeat that the claim is no longer its own.
    await gone.beat()
    assert gone.held == {} and gone.lost[PRESS].station == "lab1"


async def test_claim_of_a_process_that_no_longer_exists_is_taken_over_at_once(
    station_sessions: tuple[Sessions, Sessions],
) -> None:
    a, b = station_sessions
    child = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    await child.wait()  # reaped: its pid names no process now
    killed = InstrumentClaims(a, "lab1", pid=child.pid)  # this host, pid gone
    await killed.claim("press1", PRESS)
    restarted = InstrumentClaims(b, "lab1")
    await restarted.claim("press1", PRESS)  # heartbeat is fresh, but its process is gone
    assert await restarted.holder_of(PRESS) is not None
    holder = await restarted.holder_of(PRESS)
    assert holder is not None and holder.instance == restarted.instance


async def test_heartbeat_keeps_a_claim_fresh_past_the_stale_bound(
    station_sessions: tuple[Sessions, Sessions],
) -> None:
    a, b = station_sessions
    interval, bound = 0.3, 1.5  # bound = 5 intervals: a slow beat on a busy machine is fine
    async with InstrumentClaims(a, "lab2", heartbeat_s=interval, stale_s=bound) as lab2:
        await lab2.claim("press1", PRESS)
        since = time.time()
        # Wait until the claim is older than the bound and has been refreshed since.
        deadline = time.monotonic() + 60  # hang guard only
        while time.time() - since <= bound or lab2.heartbeats < 2:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        lab1 = InstrumentClaims(b, "lab1", heartbeat_s=interval, stale_s=bound)
        with pytest.raises(InstrumentClaimed):
            await lab1.claim("press1", PRESS)
        holder = await lab1.holder_of(PRESS)
        assert holder is not None and holder.heartbeat > since
    # Clean shutdown released it: the next station claims it at once.
    await InstrumentClaims(b, "lab1").claim("press1", PRESS)
