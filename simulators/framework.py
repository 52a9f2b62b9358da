"""What every simulated instrument shares: a declarative command table, an error queue,
a physics tick on the simulated clock, unsolicited output and fault injection.

A simulator subclasses :class:`SimInstrument`, declares its commands with
:func:`command` and models its physics in :meth:`SimInstrument.advance`. The servers in
``simulators.servers`` put it on a TCP socket or a pseudo-terminal.

Fault injection works from Python (``sim.inject("garble")``) and over the wire with
commands no real instrument has, so that a test in another process can use them:
``SIM:FAULT <name>[,<arg>]``, ``SIM:CLEAR``, ``SIM:TIME?``. Common faults: ``drop``
(close every link now), ``stall[,<real s>]`` (ignore commands; until cleared when no
duration is given), ``garble[,<n>]`` (corrupt the next n replies). Instruments add their
own (``door``, ``estop``, ``overtemp`` …) in :meth:`SimInstrument.on_fault`.

The same ``SIM:`` commands also come in through each simulator's side door
(:meth:`SimInstrument.simulate`, served on a socket of its own by ``simulators.door``):
what a simulated specimen is made of (``SIM:SAMPLE``) is told there by the station's
simulator wiring, so that nothing above the simulators speaks simulation on the wire.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from simulators.clock import Clock

log = logging.getLogger(__name__)

Handler = Callable[..., str | None]


class CommandError(Exception):
    """Raised by a handler: goes to the error queue (SCPI) or out as an ``ERR`` line."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(f"{code},{text}")
        self.code = code
        self.text = text


# SCPI standard error numbers used by the simulators.
UNDEFINED_HEADER = CommandError(-113, "Undefined header")
DATA_TYPE_ERROR = CommandError(-104, "Data type error")
OUT_OF_RANGE = CommandError(-222, "Data out of range")
MISSING_PARAMETER = CommandError(-109, "Missing parameter")
SETTINGS_CONFLICT = CommandError(-221, "Settings conflict")
QUEUE_OVERFLOW = (-350, "Queue overflow")


@dataclass(frozen=True)
class CommandSpec:
    """One row of a command table: a full-match pattern and its handler's name."""

    pattern: re.Pattern[str]
    method: str


def command(pattern: str) -> Callable[[Handler], Handler]:
    """Declare a handler for lines that fully match ``pattern`` (case-insensitive).

    The regex groups are passed to the handler as strings; the handler returns the
    reply line, or ``None`` for a command with no reply.
    """

    def mark(fn: Handler) -> Handler:
        fn.__sim_command__ = pattern  # type: ignore[attr-defined]
        return fn

    return mark


def number(text: str, low: float | None = None, high: float | None = None) -> float:
    """Parse a numeric parameter, raising the SCPI error a real instrument would."""
    try:
        value = float(text)
    except ValueError:
        raise DATA_TYPE_ERROR from None
    if value != value or value in (float("inf"), float("-inf")):
        raise DATA_TYPE_ERROR
    if (low is not None and value < low) or (high is not None and value > high):
        raise OUT_OF_RANGE
    return value


def on_off(text: str) -> bool:
    """Parse ``ON``/``OFF``/``1``/``0``."""
    t = text.strip().upper()
    if t in {"ON", "1"}:
        return True
    if t in {"OFF", "0"}:
        return False
    raise DATA_TYPE_ERROR


def garble(line: str) -> str:
    """Corrupt a reply the way a noisy line does: junk bytes in the middle of it."""
    cut = max(1, len(line) // 2)
    return f"{line[:cut]}\x15#@~{line[cut:]}"


class Faults:
    """Communication faults that the servers apply to every link."""

    def __init__(self) -> None:
        self.stalled_until: float | None = None  # time.monotonic(); inf = until cleared
        self.garble_next = 0
        self.drop_requested = asyncio.Event()

    @property
    def stalled(self) -> bool:
        return self.stalled_until is not None and time.monotonic() < self.stalled_until

    def clear(self) -> None:
        self.stalled_until = None
        self.garble_next = 0


def _printable(text: str) -> str:
    """A received header, printable only: junk bytes must not come back as a garbled reply."""
    return "".join(c if " " <= c <= "~" else "?" for c in text[:40])


class SimInstrument:
    """Base of every simulated instrument."""

    #: ``scpi``: errors go to a queue read with ``SYST:ERR?``; ``line``: an ``ERR,code,text`` reply.
    error_style: ClassVar[Literal["scpi", "line"]] = "scpi"
    #: Real seconds between physics ticks.
    tick_s: ClassVar[float] = 0.02
    _table: ClassVar[list[CommandSpec]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        table: list[CommandSpec] = []
        for klass in reversed(cls.__mro__):
            for name, fn in vars(klass).items():
                pattern = getattr(fn, "__sim_command__", None)
                if pattern is not None:
                    table.append(CommandSpec(re.compile(pattern, re.IGNORECASE), name))
        cls._table = table

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or Clock()
        self.errors: deque[tuple[int, str]] = deque()
        self.faults = Faults()
        self.commands_seen: list[str] = []
        #: Commands that came through the side door (:meth:`simulate`), not the wire.
        self.door_commands: list[str] = []
        self._listeners: set[Callable[[str], None]] = set()
        self._last_advance = self.clock.now()
        self._ticker: asyncio.Task[None] | None = None

    # -- physics -----------------------------------------------------------------------
    def advance(self, dt: float) -> None:
        """Move the model forward by ``dt`` simulated seconds. Override in subclasses."""

    def update(self) -> None:
        """Bring the model up to the current simulated time."""
        now = self.clock.now()
        dt = now - self._last_advance
        if dt > 0:
            self._last_advance = now
            self.advance(dt)

    async def _tick(self) -> None:
        while True:
            try:
                self.update()
            except Exception:  # a model bug must not kill the server
                log.exception("%s: physics tick failed", type(self).__name__)
            await asyncio.sleep(self.tick_s)

    def start(self) -> None:
        """Start the physics tick (servers call this)."""
        if self._ticker is None:
            self._last_advance = self.clock.now()
            self._ticker = asyncio.get_running_loop().create_task(self._tick())

    async def stop(self) -> None:
        """Stop the physics tick."""
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None

    # -- errors and output ---------------------------------------------------------------
    def push_error(self, code: int, text: str) -> None:
        """Record an error: queue it (SCPI) or send it as an ``ERR`` line."""
        if self.error_style == "line":
            self.emit(f"ERR,{code},{text}")
            return
        if len(self.errors) >= 31:
            self.errors.pop()
            self.errors.append(QUEUE_OVERFLOW)
            return
        self.errors.append((code, text))

    def emit(self, line: str) -> None:
        """Send an unsolicited line to every connected client (streams, events)."""
        for listener in list(self._listeners):
            listener(line)

    def add_listener(self, listener: Callable[[str], None]) -> None:
        self._listeners.add(listener)

    def remove_listener(self, listener: Callable[[str], None]) -> None:
        self._listeners.discard(listener)

    # -- faults --------------------------------------------------------------------------
    def inject(self, name: str, arg: str | None = None) -> None:
        """Inject a fault by name (see the module docstring)."""
        name = name.strip().lower()
        if name == "drop":
            self.faults.drop_requested.set()
        elif name == "stall":
            duration = float(arg) if arg else float("inf")
            self.faults.stalled_until = time.monotonic() + duration
        elif name == "garble":
            self.faults.garble_next += int(arg) if arg else 1
        elif not self.on_fault(name, arg):
            raise CommandError(-224, f"Unknown fault {name}")

    def on_fault(self, name: str, arg: str | None) -> bool:
        """Instrument-specific faults; return True if ``name`` was handled."""
        return False

    def clear_faults(self) -> None:
        """Clear every injected fault. Subclasses extend it for their own."""
        self.faults.clear()

    # -- the command table -------------------------------------------------------------
    def handle(self, line: str) -> str | None:
        """Execute one received line and return the reply line (or ``None``)."""
        text = line.strip()
        if not text:
            return None
        self.commands_seen.append(text)
        if len(self.commands_seen) > 10_000:
            del self.commands_seen[:5_000]
        try:
            return self._execute(text)
        except CommandError as err:
            self.push_error(err.code, err.text)
            return None

    def simulate(self, line: str) -> str:
        """The simulator's side door: run one ``SIM:`` command away from the instrument's
        wire, so nothing of it (reply, error line, error queue entry) reaches the clients
        of the instrument. Returns the reply, ``OK`` for a command without one, or
        ``ERR,<code>,<text>``. What a simulated specimen is made of comes in here
        (``SIM:SAMPLE``), from the station's simulator wiring, never through a driver."""
        text = line.strip()
        if not text.upper().startswith("SIM:"):
            shown = _printable(text)
            return f"ERR,{UNDEFINED_HEADER.code},not a simulation command; {shown}"
        self.door_commands.append(text)
        try:
            reply = self._execute(text)
        except CommandError as err:
            return f"ERR,{err.code},{err.text}"
        return "OK" if reply is None else reply

    def _execute(self, text: str) -> str | None:
        """Run ``text`` through the command table; :class:`CommandError` when refused."""
        self.update()
        for spec in self._table:
            m = spec.pattern.fullmatch(text)
            if m is not None:
                reply: str | None = getattr(self, spec.method)(*m.groups())
                return reply
        raise CommandError(UNDEFINED_HEADER.code, f"{UNDEFINED_HEADER.text}; {_printable(text)}")

    @command(r"SYST:ERR\?")
    def _syst_err(self) -> str:
        code, text = self.errors.popleft() if self.errors else (0, "No error")
        return f'{code},"{text}"'

    @command(r"SIM:FAULT\s+([A-Za-z_]+)(?:\s*,\s*(\S+))?")
    def _sim_fault(self, name: str, arg: str | None) -> None:
        self.inject(name, arg)

    @command(r"SIM:CLEAR")
    def _sim_clear(self) -> None:
        self.clear_faults()

    @command(r"SIM:TIME\?")
    def _sim_time(self) -> str:
        return f"{self.clock.now():.3f}"
