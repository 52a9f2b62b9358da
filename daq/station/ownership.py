"""Exclusive ownership of instruments: one controller per instrument, across stations.

Before a station (or a CLI command that opens an instrument itself) talks to an
instrument it *claims* it in the shared database: one ``instrument_claims`` row per
physical instrument, keyed by its normalised VISA resource string, naming the station,
host, pid and a per-owner instance id (a uuid, so that the same station id started twice
is refused too). The primary key makes the check-and-insert atomic on SQLite and
PostgreSQL: of two concurrent claimers exactly one insert commits, the other meets the
key and is refused with :class:`InstrumentClaimed`, naming the holder.

A claim is kept fresh by a heartbeat (wall clock, every ``heartbeat_s``). A claim whose
heartbeat is older than ``stale_s`` (3× the interval by default), or whose holder is a
process of this host that no longer exists (a SIGKILLed station restarting), may be
taken over; the take-over is a conditional update on the old holder's instance and
heartbeat (so two stations taking over one stale claim cannot both win), logged and
written to the audit log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from types import TracebackType

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from daq.config import Settings
from daq.station.errors import ClaimHolder, InstrumentClaimed, iso_utc
from daq.storage.claim_models import InstrumentClaim
from daq.storage.errors import is_transient
from daq.storage.models import AuditLog
from drivers.errors import InvalidResource
from drivers.transport.resource import parse_resource

__all__ = [
    "DEFAULT_HEARTBEAT_S",
    "DEFAULT_STALE_S",
    "ClaimHolder",
    "InstrumentClaimed",
    "InstrumentClaims",
    "claimed",
    "normalise_resource",
    "pid_alive",
    "station_claims",
]

log = logging.getLogger(__name__)

#: Wall seconds between heartbeats of a station's claims.
DEFAULT_HEARTBEAT_S = 5.0
#: A claim whose heartbeat is older than this (wall seconds) may be taken over: three
#: missed heartbeats, so one slow beat on a loaded machine never loses a claim.
DEFAULT_STALE_S = 3 * DEFAULT_HEARTBEAT_S

_BOARD = re.compile(r"^(TCPIP|GPIB|USB|VXI|PXI)(\d*)$")
_HEX = re.compile(r"^0[xX][0-9a-fA-F]+$")


def normalise_resource(resource: str) -> str:
    """The physical identity of an instrument as one string, so that two spellings of
    one instrument collide: ``tcpip0::LocalHost::5025::socket`` →
    ``TCPIP::localhost::5025::SOCKET``; a serial port (``ASRL/dev/serial/by-id/…::INSTR``,
    a plain ``/dev/ttyUSB0``, ``ASRL1::INSTR``) → ``ASRL<real device path>::INSTR``, with
    symlinks resolved; other VISA strings get the interface upper-cased, board 0 and the
    ``::INSTR`` class made explicit-default (``GPIB0::12::INSTR`` → ``GPIB::12::INSTR``)."""
    parsed = parse_resource(resource)
    if parsed.kind == "tcp":
        assert parsed.host is not None and parsed.port is not None
        return f"TCPIP::{parsed.host.lower()}::{parsed.port}::SOCKET"
    if parsed.kind == "serial":
        assert parsed.device is not None
        device = parsed.device
        if not re.match(r"^COM\d+$", device, re.IGNORECASE):
            device = os.path.realpath(device)
        else:
            device = device.upper()
        return f"ASRL{device}::INSTR"
    parts = [p.strip() for p in parsed.text.split("::")]
    m = _BOARD.match(parts[0].upper())
    if m is None:
        raise InvalidResource(f"not a VISA resource string: {resource!r}")
    interface, board = m.group(1), m.group(2)
    parts[0] = interface + ("" if board in ("", "0") else board)
    if parts[-1].upper() in ("INSTR", "SOCKET", "INTFC", "RAW", "BACKPLANE", "SERVANT"):
        parts[-1] = parts[-1].upper()
    else:
        parts.append("INSTR")
    if interface == "TCPIP":
        parts[1] = parts[1].lower()
        if len(parts) == 3 and parts[2] == "INSTR":  # the default LAN device name
            parts.insert(2, "inst0")
    parts = [p.upper() if _HEX.match(p) else p for p in parts]
    return "::".join(parts)


def pid_alive(pid: int) -> bool:
    """True if a process with ``pid`` exists on this host."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class _ClaimChanged(Exception):
    """The claim row changed between reading it and taking it over (another claimer)."""


def _holder(row: InstrumentClaim) -> ClaimHolder:
    return ClaimHolder(row.station, row.instrument, row.host, row.pid, row.instance,
                  row.claimed_since, row.heartbeat)


#: The longest a stop waits for a heartbeat in flight (a SQLite write waits at most its
#: busy timeout, 5 s) before cancelling it.
STOP_BEAT_TIMEOUT_S = 10.0


class InstrumentClaims:
    """The claims of one owner (a station, or a CLI command) on the shared database.

    ``async with InstrumentClaims(...) as claims:`` starts the heartbeat and releases
    every claim on the way out; :meth:`claim` may be called before or inside.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        station: str,
        *,
        heartbeat_s: float = DEFAULT_HEARTBEAT_S,
        stale_s: float | None = None,
        host: str | None = None,
        pid: int | None = None,
        sim_now: Callable[[], float] | None = None,
    ) -> None:
        self.sessions = sessions
        self.station = station
        self.heartbeat_s = heartbeat_s
        self.stale_s = 3 * heartbeat_s if stale_s is None else stale_s
        self.host = host or socket.gethostname()
        self.pid = os.getpid() if pid is None else pid
        self.instance = str(uuid.uuid4())
        #: Normalised resource → instrument name, of the claims this owner holds.
        self.held: dict[str, str] = {}
        #: Claims this owner had and found taken over by another (resource → holder).
        self.lost: dict[str, ClaimHolder] = {}
        self.heartbeats = 0
        self._sim_now = sim_now  # the station's simulated clock, for the audit line's ts
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    # -- claiming --------------------------------------------------------------------------
    async def claim(self, instrument: str, resource: str) -> str:
        """Claim ``resource`` as ``instrument``; the normalised resource.

        Raises :class:`InstrumentClaimed` when another owner holds it with a fresh
        heartbeat. Idempotent for this owner's own claims."""
        key = normalise_resource(resource)
        delay = 0.05
        for _ in range(20):
            try:
                took_over = await self._try_claim(instrument, key)
            except (IntegrityError, _ClaimChanged):
                continue  # another claimer won the row first: read again, it is the holder
            except InstrumentClaimed:
                raise
            except Exception as exc:
                if not is_transient(exc):
                    raise
                await asyncio.sleep(delay)  # a locked SQLite file: the other claimer commits
                delay = min(delay * 2, 0.5)
                continue
            if took_over is not None:
                self._log_takeover(instrument, key, took_over)
            self.held[key] = instrument
            self.lost.pop(key, None)
            return key
        raise RuntimeError(f"could not settle the claim of {instrument} ({key})")

    async def _try_claim(self, instrument: str, key: str) -> tuple[ClaimHolder, str] | None:
        """One attempt in one transaction; the (previous holder, why) of a take-over."""
        now = time.time()
        async with self.sessions() as session, session.begin():
            row = await session.get(InstrumentClaim, key, populate_existing=True)
            if row is None:
                session.add(InstrumentClaim(
                    resource=key, station=self.station, instrument=instrument,
                    host=self.host, pid=self.pid, instance=self.instance,
                    claimed_since=now, heartbeat=now,
                ))
                await session.flush()  # the key decides here (or at commit on SQLite)
                return None
            holder = _holder(row)
            if holder.instance == self.instance:
                row.instrument = instrument
                row.heartbeat = now
                return None
            why = self.stale_reason(holder, now)
            if why is None:
                raise InstrumentClaimed(instrument, key, holder, now=now)
            taken = await session.execute(
                update(InstrumentClaim)
                .where(InstrumentClaim.resource == key,
                       InstrumentClaim.instance == holder.instance,
                       InstrumentClaim.heartbeat == holder.heartbeat)
                .values(station=self.station, instrument=instrument, host=self.host,
                        pid=self.pid, instance=self.instance, claimed_since=now,
                        heartbeat=now)
                .execution_options(synchronize_session=False)
            )
            if getattr(taken, "rowcount", 0) != 1:
                raise _ClaimChanged(key)
            session.add(AuditLog(
                ts=self._sim_now() if self._sim_now else now, wall_ts=now,
                user=f"station:{self.station}", action="instrument.claim_takeover",
                target=key, from_state="stale",
                detail={
                    "instrument": instrument, "reason": why,
                    "previous": {"station": holder.station, "instrument": holder.instrument,
                                 "host": holder.host, "pid": holder.pid,
                                 "instance": holder.instance, "since": holder.since,
                                 "heartbeat_age_s": round(now - holder.heartbeat, 3)},
                    "by": {"host": self.host, "pid": self.pid, "instance": self.instance},
                },
            ))
            return holder, why

    def stale_reason(self, holder: ClaimHolder, now: float) -> str | None:
        """Why ``holder``'s claim may be taken over, or ``None`` while it is live."""
        age = now - holder.heartbeat
        if age > self.stale_s:
            return f"heartbeat {age:.0f} s old (stale after {self.stale_s:g} s)"
        if holder.host == self.host and holder.pid != os.getpid() and not pid_alive(holder.pid):
            return f"process {holder.pid} on {holder.host} no longer exists"
        return None

    def _log_takeover(self, instrument: str, key: str, took_over: tuple[ClaimHolder, str]) -> None:
        holder, why = took_over
        log.warning(
            "took over %s (%s) from station %s (host %s, pid %d, since %s): %s",
            instrument, key, holder.station, holder.host, holder.pid,
            iso_utc(holder.since), why,
        )

    async def claim_all(self, instruments: Mapping[str, str]) -> None:
        """Claim every ``name → resource``, or none: a refusal releases what this call
        took and is raised, so an owner never starts half-owned."""
        taken: list[str] = []
        try:
            for name, resource in instruments.items():
                key = normalise_resource(resource)
                already = key in self.held
                await self.claim(name, resource)
                if not already:
                    taken.append(key)
        except BaseException:
            with contextlib.suppress(Exception):
                await self.release(taken)
            raise

    async def holder_of(self, resource: str) -> ClaimHolder | None:
        """Who holds ``resource`` now (``None`` if nobody)."""
        async with self.sessions() as session:
            row = await session.get(InstrumentClaim, normalise_resource(resource))
            return None if row is None else _holder(row)

    # -- heartbeat -------------------------------------------------------------------------
    async def beat(self) -> None:
        """Refresh the heartbeat of every claim held; notice claims taken over meanwhile."""
        if not self.held:
            return
        now = time.time()
        keys = list(self.held)
        async with self.sessions() as session, session.begin():
            await session.execute(
                update(InstrumentClaim)
                .where(InstrumentClaim.instance == self.instance,
                       InstrumentClaim.resource.in_(keys))
                .values(heartbeat=now)
                .execution_options(synchronize_session=False)
            )
            mine = set(await session.scalars(
                select(InstrumentClaim.resource).where(
                    InstrumentClaim.instance == self.instance)))
            gone = [k for k in keys if k not in mine]
            others = {row.resource: _holder(row) for row in await session.scalars(
                select(InstrumentClaim).where(InstrumentClaim.resource.in_(gone)))} if gone \
                else {}
        self.heartbeats += 1
        for key in gone:
            name = self.held.pop(key)
            holder = others.get(key)
            if holder is not None:
                self.lost[key] = holder
            log.error("the claim of %s (%s) was lost%s: this station no longer owns it",
                      name, key, f" to station {holder.station} (pid {holder.pid})"
                      if holder else "")

    async def _heartbeat(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.heartbeat_s):
                    await self._stop.wait()
            if self._stop.is_set():
                return
            try:
                await self.beat()
            except Exception as exc:  # a database outage: keep beating, say so
                log.warning("instrument claims heartbeat failed: %s", exc)

    def start_heartbeat(self) -> None:
        """Refresh the claims every ``heartbeat_s`` wall seconds until :meth:`stop`."""
        if self._task is None:
            self._stop.clear()
            self._task = asyncio.get_running_loop().create_task(
                self._heartbeat(), name=f"claims-heartbeat-{self.station}")

    async def stop_heartbeat(self) -> None:
        """Stop the heartbeat task (claims stay in the database).

        A beat in flight is let finish rather than cancelled: cancelled inside its
        transaction, its connection could keep SQLite's write lock past the release that
        follows a stop, which then failed with "database is locked" (seen under
        ``stress-ng``). Only a beat that outlasts :data:`STOP_BEAT_TIMEOUT_S` is cancelled.
        """
        task, self._task = self._task, None
        if task is None:
            return
        self._stop.set()
        done, _ = await asyncio.wait([task], timeout=STOP_BEAT_TIMEOUT_S)
        if not done:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- release ---------------------------------------------------------------------------
    async def release(self, resources: list[str] | None = None) -> None:
        """Give up the claims on ``resources`` (normalised; default: every one held)."""
        keys = list(self.held) if resources is None else list(resources)
        if not keys:
            return
        async with self.sessions() as session, session.begin():
            await session.execute(
                delete(InstrumentClaim)
                .where(InstrumentClaim.instance == self.instance,
                       InstrumentClaim.resource.in_(keys))
                .execution_options(synchronize_session=False)
            )
        for key in keys:
            self.held.pop(key, None)

    async def close(self) -> None:
        """Stop the heartbeat and release every claim (clean shutdown)."""
        await self.stop_heartbeat()
        try:
            await self.release()
        except Exception as exc:  # they go stale and can be taken over
            log.warning("instrument claims not released: %s", exc)

    async def __aenter__(self) -> InstrumentClaims:
        self.start_heartbeat()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


@asynccontextmanager
async def claimed(
    sessions: async_sessionmaker[AsyncSession],
    station: str,
    instruments: Mapping[str, str],
    *,
    heartbeat_s: float = DEFAULT_HEARTBEAT_S,
    stale_s: float | None = None,
) -> AsyncIterator[InstrumentClaims]:
    """Hold claims on ``name → resource`` for the block (heartbeat on, released after);
    :class:`InstrumentClaimed` before the block runs if another owner holds one."""
    claims = InstrumentClaims(sessions, station, heartbeat_s=heartbeat_s, stale_s=stale_s)
    await claims.claim_all(instruments)
    async with claims:
        yield claims


@asynccontextmanager
async def station_claims(
    sessions: async_sessionmaker[AsyncSession], settings: Settings,
    instruments: Mapping[str, str],
) -> AsyncIterator[InstrumentClaims]:
    """:func:`claimed` for the station of ``settings`` (its id, heartbeat and bound): what
    a CLI command that opens an instrument itself holds while it does."""
    async with claimed(sessions, settings.station, instruments,
                       heartbeat_s=settings.claim_heartbeat_s,
                       stale_s=settings.claim_stale_s) as claims:
        yield claims
