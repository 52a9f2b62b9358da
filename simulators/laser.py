"""Simulated 355 nm UV laser driller (3rd-harmonic YAG) on a raw TCP socket (VISA
``TCPIP::host::5026::SOCKET``).

It models what matters for safety and for the patent's laser column of Table 1:

* a key switch (``KEY?``) and three interlocks (``STAT:INTL?`` →
  ``DOOR=CLOSED|OPEN,ENCL=CLOSED|OPEN,CHILLER=OK|ALARM``);
* a shutter that refuses to open (SCPI error -221, shutter stays closed) with the key off
  or any interlock open, and that closes by itself when an interlock opens or the key is
  turned off; a job running at that moment ends in state ``FAULT``;
* a drilling job (``JOB:LOAD name,n_holes,diameter_um,rate_hz`` / ``JOB:START`` /
  ``JOB:STAT?`` / ``JOB:ABOR``) that drills at the set hole rate in simulated time
  (500 holes at 100 holes/s take 5 s), and an inspection of every drilled hole
  (``JOB:RES? <i>`` → ``top_um,bottom_um,dross``: the stand-in for the SEM check).

Hole model (documented in docs/laser.md): a pulse train at power ``P`` ablates through
an adhesive layer up to ``capacity = 10 µm × P / 2.0 W`` thick (±5 % per hole). A layer
thicker than that is not opened (bottom diameter 0 → grade X). An opened hole has a
bottom/top taper of ``0.7 + 0.2 × (1 − thickness / capacity)`` (5 µm at the nominal
2.0 W: ≈ 0.8, good taper). Above 1.5 × the nominal power (3.0 W) the melt is no longer
ejected cleanly and most holes keep dross (Δ); at or below it about 0.5 % do.

The sample on the stage comes from ``SIM:SAMPLE <id>,<material-key>,<thickness_um>
[,<aging_h>]`` (a job whose name starts with that id drills it; the station's simulator
wiring sends it through the side door, ``simulators.door``) or, failing that, from the
job name's prefix (``EX1-…`` = Example 1, ``CMP1-…`` = Comparative 1, Table 1).

Simulation-only faults (``SIM:FAULT <name>[,clear]``): ``door``, ``enclosure``,
``chiller``, ``key_off``, plus the framework's ``drop``, ``stall``, ``garble``.
``SIM:CLEAR`` closes the interlocks and turns the key back on.
"""

from __future__ import annotations

import math
import random
import zlib
from dataclasses import dataclass
from typing import Literal

from simulators.clock import Clock
from simulators.framework import (
    OUT_OF_RANGE,
    CommandError,
    SimInstrument,
    command,
    number,
)
from simulators.materials import MATERIALS, material_for_id

IDN = "Lamina Simulated Instruments,UV355-YAG Laser Driller,SIM-LSR-0001,1.0"
DEFAULT_PORT = 5026

WAVELENGTH_NM = 355
NOMINAL_POWER_W = 2.0
EXCESS_POWER_FACTOR = 1.5  # above 1.5 × nominal the holes keep dross
CAPACITY_AT_NOMINAL_UM = 10.0
DEFAULT_THICKNESS_UM = 5.0  # an unknown film on the stage: the product's own 5 µm

POWER_RANGE_W = (0.0, 8.0)
PULSE_FREQUENCY_RANGE_HZ = (1_000.0, 100_000.0)
DIAMETER_RANGE_UM = (10.0, 200.0)
HOLE_RATE_RANGE_HZ = (1.0, 1_000.0)
HOLE_COUNT_RANGE = (1, 100_000)

JobState = Literal["IDLE", "LOADED", "RUNNING", "DONE", "ABORTED", "FAULT"]
INTERLOCK_FAULTS = {"door": "door", "enclosure": "enclosure", "chiller": "chiller"}
_CLEAR_WORDS = {"clear", "close", "closed", "ok", "0", "off"}


@dataclass(frozen=True)
class ShutterEvent:
    """One entry of the shutter history: what happened, when (simulated s) and why."""

    ts: float
    action: Literal["open", "close", "refused"]
    cause: str  # "command", "interlock:door", "key_off", … or why an open was refused
    was_open: bool


@dataclass(frozen=True)
class Hole:
    """The inspection of one drilled hole."""

    top_um: float
    bottom_um: float
    dross: bool

    def line(self) -> str:
        return f"{self.top_um:.2f},{self.bottom_um:.2f},{int(self.dross)}"


@dataclass
class Job:
    """A loaded drilling job and what it has drilled so far."""

    name: str
    n_holes: int
    diameter_um: float
    rate_hz: float
    thickness_um: float
    rng: random.Random
    state: JobState = "LOADED"
    started_ts: float | None = None
    ended_ts: float | None = None
    holes: list[Hole] | None = None

    @property
    def holes_done(self) -> int:
        return len(self.holes or [])


class UvLaserSim(SimInstrument):
    """The simulated laser driller (see the module docstring for its model)."""

    def __init__(self, clock: Clock | None = None, seed: int = 355) -> None:
        super().__init__(clock)
        self.seed = seed
        self.key_on = True
        self.door_open = False
        self.enclosure_open = False
        self.chiller_alarm = False
        self.shutter_is_open = False
        self.power_set_w = NOMINAL_POWER_W
        self.pulse_frequency_hz = 20_000.0
        self.job: Job | None = None
        self.jobs_loaded = 0
        self.samples: dict[str, float] = {}  # sample id → adhesive thickness µm
        self.shutter_history: list[ShutterEvent] = []
        self._noise = random.Random(seed + 1)

    # -- safety ----------------------------------------------------------------------
    def open_interlocks(self) -> list[str]:
        """Names of the interlocks that are open now."""
        names = []
        if self.door_open:
            names.append("door")
        if self.enclosure_open:
            names.append("enclosure")
        if self.chiller_alarm:
            names.append("chiller")
        return names

    def _safety_trip(self, cause: str) -> None:
        """The hardware path: an interlock opened or the key was turned off."""
        self.update()  # drill up to this instant before stopping
        if self.shutter_is_open:
            self.shutter_is_open = False
            self.shutter_history.append(ShutterEvent(self.clock.now(), "close", cause, True))
        if self.job is not None and self.job.state == "RUNNING":
            self.job.state = "FAULT"
            self.job.ended_ts = self.clock.now()

    def on_fault(self, name: str, arg: str | None) -> bool:
        clear = arg is not None and arg.strip().lower() in _CLEAR_WORDS
        if name == "door":
            self.door_open = not clear
        elif name == "enclosure":
            self.enclosure_open = not clear
        elif name == "chiller":
            self.chiller_alarm = not clear
        elif name == "key_off":
            self.key_on = clear
            if not clear:
                self._safety_trip("key_off")
            return True
        else:
            return False
        if not clear:
            self._safety_trip(f"interlock:{name}")
        return True

    def clear_faults(self) -> None:
        super().clear_faults()
        self.door_open = self.enclosure_open = self.chiller_alarm = False
        self.key_on = True

    # -- physics -----------------------------------------------------------------------
    def advance(self, dt: float) -> None:
        job = self.job
        if job is None or job.state != "RUNNING" or job.started_ts is None:
            return
        if not self.shutter_is_open:  # cannot happen through the commands; belt and braces
            job.state = "FAULT"
            job.ended_ts = self.clock.now()
            return
        elapsed = self.clock.now() - job.started_ts
        due = min(job.n_holes, math.floor(elapsed * job.rate_hz + 1e-9))
        holes = job.holes if job.holes is not None else []
        job.holes = holes
        while len(holes) < due:
            holes.append(self._drill(job))
        if len(holes) >= job.n_holes:
            job.state = "DONE"
            job.ended_ts = job.started_ts + job.n_holes / job.rate_hz

    def _drill(self, job: Job) -> Hole:
        """One hole through ``job.thickness_um`` of adhesive at the current power."""
        rng = job.rng
        power_w = self.power_set_w
        top_um = job.diameter_um * rng.gauss(1.0, 0.02)
        capacity_um = CAPACITY_AT_NOMINAL_UM * power_w / NOMINAL_POWER_W * rng.gauss(1.0, 0.05)
        if capacity_um <= 0 or job.thickness_um > capacity_um:
            return Hole(top_um, 0.0, False)
        taper = 0.7 + 0.2 * (1.0 - job.thickness_um / capacity_um) + rng.gauss(0.0, 0.02)
        taper = min(max(taper, 0.3), 0.98)
        excess = power_w / NOMINAL_POWER_W - EXCESS_POWER_FACTOR
        p_dross = 0.3 + 0.5 * min(1.0, excess / 0.5) if excess > 0 else 0.005
        return Hole(top_um, top_um * taper, rng.random() < p_dross)

    def thickness_for(self, job_name: str) -> float:
        """Adhesive thickness of the sample a job drills (see the module docstring)."""
        for sample_id, thickness_um in self.samples.items():
            if job_name == sample_id or job_name.startswith(sample_id):
                return thickness_um
        material = material_for_id(job_name)
        if material is not None:
            return float(material.adhesive_thickness_um)
        return DEFAULT_THICKNESS_UM

    # -- identity, key and interlocks -----------------------------------------------------
    @command(r"\*IDN\?")
    def _idn(self) -> str:
        return IDN

    @command(r"\*RST")
    def _rst(self) -> None:
        self._close_shutter("command")
        if self.job is not None and self.job.state == "RUNNING":
            self.job.state = "ABORTED"
            self.job.ended_ts = self.clock.now()
        self.power_set_w = NOMINAL_POWER_W
        self.pulse_frequency_hz = 20_000.0

    @command(r"KEY\?")
    def _key(self) -> str:
        return "ON" if self.key_on else "OFF"

    @command(r"STAT:INTL\?")
    def _interlocks(self) -> str:
        door = "OPEN" if self.door_open else "CLOSED"
        encl = "OPEN" if self.enclosure_open else "CLOSED"
        chiller = "ALARM" if self.chiller_alarm else "OK"
        return f"DOOR={door},ENCL={encl},CHILLER={chiller}"

    @command(r"WAV\?")
    def _wavelength(self) -> str:
        return str(WAVELENGTH_NM)

    # -- source settings -------------------------------------------------------------------
    @command(r"PULS:FREQ\s+(\S+)")
    def _set_frequency(self, text: str) -> None:
        self.pulse_frequency_hz = number(text, *PULSE_FREQUENCY_RANGE_HZ)

    @command(r"PULS:FREQ\?")
    def _get_frequency(self) -> str:
        return f"{self.pulse_frequency_hz:g}"

    @command(r"POW:SET\s+(\S+)")
    def _set_power(self, text: str) -> None:
        self.power_set_w = number(text, *POWER_RANGE_W)

    @command(r"POW:SET\?")
    def _get_power(self) -> str:
        return f"{self.power_set_w:.3f}"

    @command(r"MEAS:POW\?")
    def _measure_power(self) -> str:
        """The internal power monitor: emitted power, 0 with the key off."""
        if not self.key_on:
            return "0.000"
        return f"{max(0.0, self.power_set_w * self._noise.gauss(1.0, 0.01)):.3f}"

    # -- shutter -----------------------------------------------------------------------
    @command(r"SHUT\s+(OPEN|CLOSE)")
    def _shutter(self, action: str) -> None:
        if action.upper() == "CLOSE":
            self._close_shutter("command")
            if self.job is not None and self.job.state == "RUNNING":
                # No beam, no holes: the job stops where it is.
                self.job.state = "ABORTED"
                self.job.ended_ts = self.clock.now()
            return
        reasons = ([] if self.key_on else ["key off"]) + [
            f"interlock {name} open" for name in self.open_interlocks()
        ]
        if reasons:
            self.shutter_history.append(
                ShutterEvent(self.clock.now(), "refused", "; ".join(reasons), self.shutter_is_open)
            )
            raise CommandError(-221, f"Settings conflict; shutter refused: {', '.join(reasons)}")
        was_open = self.shutter_is_open
        self.shutter_is_open = True
        self.shutter_history.append(ShutterEvent(self.clock.now(), "open", "command", was_open))

    def _close_shutter(self, cause: str) -> None:
        was_open = self.shutter_is_open
        self.shutter_is_open = False
        self.shutter_history.append(ShutterEvent(self.clock.now(), "close", cause, was_open))

    @command(r"SHUT\?")
    def _shutter_query(self) -> str:
        return "OPEN" if self.shutter_is_open else "CLOSED"

    # -- jobs --------------------------------------------------------------------------
    @command(r"JOB:LOAD\s+([^,]+?)\s*,\s*(\S+?)\s*,\s*(\S+?)\s*,\s*(\S+)")
    def _load(self, name: str, n_text: str, diameter_text: str, rate_text: str) -> None:
        if self.job is not None and self.job.state == "RUNNING":
            raise CommandError(-221, "Settings conflict; a job is running")
        n_holes = number(n_text, *HOLE_COUNT_RANGE)
        if n_holes != int(n_holes):
            raise OUT_OF_RANGE
        diameter_um = number(diameter_text, *DIAMETER_RANGE_UM)
        rate_hz = number(rate_text, *HOLE_RATE_RANGE_HZ)
        name = name.strip()
        if not name or len(name) > 64:
            raise CommandError(-151, "Invalid string data; job name 1-64 characters")
        self.jobs_loaded += 1
        rng = random.Random(self.seed * 1_000_003 + zlib.crc32(name.encode()) + self.jobs_loaded)
        self.job = Job(name, int(n_holes), diameter_um, rate_hz, self.thickness_for(name), rng)

    @command(r"JOB:START")
    def _start(self) -> None:
        job = self.job
        if job is None or job.state != "LOADED":
            raise CommandError(-221, "Settings conflict; no job loaded")
        if not self.shutter_is_open:
            raise CommandError(-221, "Settings conflict; shutter closed")
        job.state = "RUNNING"
        job.started_ts = self.clock.now()
        job.holes = []

    @command(r"JOB:STAT\?")
    def _status(self) -> str:
        if self.job is None:
            return "IDLE,0"
        return f"{self.job.state},{self.job.holes_done}"

    @command(r"JOB:ABOR")
    def _abort(self) -> None:
        if self.job is not None and self.job.state == "RUNNING":
            self.job.state = "ABORTED"
            self.job.ended_ts = self.clock.now()

    @command(r"JOB:RES\?\s+(\S+)")
    def _result(self, index_text: str) -> str:
        job = self.job
        done = job.holes_done if job is not None else 0
        index = number(index_text, 0, max(done - 1, 0))
        if job is None or job.holes is None or done == 0 or index != int(index):
            raise OUT_OF_RANGE
        return job.holes[int(index)].line()

    # -- simulation only ---------------------------------------------------------------
    @command(r"SIM:SAMPLE\s+([^,\s]+)\s*,\s*([^,\s]+)\s*,\s*([^,\s]+)(?:\s*,\s*(\S+))?")
    def _sample(self, sample_id: str, key: str, thickness_text: str, _aging: str | None) -> None:
        if key.upper() not in MATERIALS:
            raise CommandError(-224, f"Illegal parameter value; unknown material {key}")
        self.samples[sample_id] = number(thickness_text, 0, 1_000)

    @command(r"SIM:JOB:TIME\?")
    def _job_time(self) -> str:
        """Simulated start and end time of the last job (``nan`` when not yet there)."""
        job = self.job
        start = job.started_ts if job and job.started_ts is not None else math.nan
        end = job.ended_ts if job and job.ended_ts is not None else math.nan
        return f"{start:.3f},{end:.3f}"
