"""Keeping the press safe: the interlock rule a cycle applies to every poll, and the
routine that drives the press to its safe state (heaters off, pressure released).

The safe-state routine sends ``ABOR``, then switches heaters and pressure off explicitly,
and confirms with a reading. If the link is down it reconnects and retries; every attempt
is bounded, so a hung link cannot hold it past its deadline: after that the press's own
watchdog (armed at PRECHECK) is the last line.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from drivers.errors import InstrumentCommandError, InstrumentError
from drivers.lamination_press import LaminationPress, PressState

#: Real seconds the safe-state routine keeps trying (reconnecting) before it gives up and
#: leaves the rest to the press's watchdog.
SAFE_DEADLINE_S = 5.0


class CycleFault(Exception):
    """Why a cycle cannot go on (it ends FAULTED with this as the reason)."""


class PrecheckRefused(CycleFault):
    """The press or the recipe is not fit to start: nothing was moved."""


class InterlockTripped(CycleFault):
    """The press reported an interlock: door open, alarm, e-stop, tripped to SAFE."""


class PhaseTimeout(CycleFault):
    """A phase did not reach its target in the recipe's time."""


@dataclass
class PressStatus:
    """What the last poll learned about the press besides its measurements."""

    state: PressState
    door_closed: bool
    alarms: list[str]


def interlock_problem(status: PressStatus, phase: str) -> str | None:
    """Why the press must not go on (door open, alarm, tripped by itself), or ``None``."""
    problems: list[str] = []
    if not status.door_closed:
        problems.append("press door opened")
    if status.state in (PressState.SAFE, PressState.ESTOP):
        problems.append(f"press went {status.state} by itself")
    elif status.alarms:
        problems.append("press alarm")
    if not problems:
        return None
    alarms = ", ".join(status.alarms) or "none"
    return f"{'; '.join(problems)} during {phase} (alarms: {alarms})"


async def drive_safe(press: LaminationPress, deadline_s: float = SAFE_DEADLINE_S
                     ) -> tuple[bool, str]:
    """Drive the press safe within ``deadline_s`` real seconds; (confirmed, detail)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + deadline_s
    attempt = 0
    detail = ""
    while True:
        remaining = deadline - loop.time()
        try:
            # Bounded even if the link hangs: the watchdog takes over after the deadline.
            state = await asyncio.wait_for(_safe_attempt(press, reconnect=attempt > 0),
                                           max(remaining, 0.1))
            if state in (PressState.SAFE, PressState.ESTOP, PressState.IDLE):
                return True, str(state)
            detail = f"press reports {state} after ABOR"
        except TimeoutError:
            detail = f"no answer within {deadline_s:g} s"
        except InstrumentError as exc:
            detail = f"{type(exc).__name__}: {exc}"
        attempt += 1
        remaining = deadline - loop.time()
        if remaining <= 0:
            return False, detail
        await asyncio.sleep(min(0.1 * attempt, remaining))


async def _safe_attempt(press: LaminationPress, *, reconnect: bool) -> PressState:
    """ABOR, heaters and pressure off, read back the state (one try)."""
    if reconnect:
        await press.reconnect()
    await press.abort()
    for output in (press.set_heater, press.set_pressure_output):
        # A tripped press may refuse commands; OFF is what it already is.
        with contextlib.suppress(InstrumentCommandError):
            await output(False)
    state = (await press.measure_all()).state
    if state in (PressState.SAFE, PressState.ESTOP, PressState.IDLE):
        with contextlib.suppress(InstrumentError):
            await press.arm_watchdog(0)  # done controlling: no WATCHDOG alarm later
    return state
