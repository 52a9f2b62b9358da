"""The register map of a Modbus PID temperature controller, as the driver reads it.

Defaults are those of the Lamina simulator (``simulators.oven_modbus``), in the style of
common controllers: the process value and a status word in input registers, the setpoint,
run/stop and the decimal point in holding registers, temperatures as signed 16-bit
integers scaled by the decimal places (raw 1502 with 1 decimal place is 150.2 °C).
Addresses are zero-based PDU addresses (input register 0 is "30001" in a manual).
:class:`ModbusOvenMap` checks itself when made: a bad map raises ``ValueError``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_ADDRESS = 0xFFFF


def _distinct(what: str, named: dict[str, int | None], high: int) -> None:
    used: dict[int, str] = {}
    for name, value in named.items():
        if value is None:
            continue
        if not 0 <= value <= high:
            raise ValueError(f"{what} {name} = {value} is outside 0–{high}")
        if value in used:
            raise ValueError(f"{what} {name} and {used[value]} are both at {value}")
        used[value] = name


@dataclass(frozen=True, slots=True)
class InputRegisters:
    """Read-only registers (function 04)."""

    pv: int = 0
    output: int | None = 1
    status: int = 2
    model: int | None = 3
    firmware: int | None = 4

    def __post_init__(self) -> None:
        _distinct("input register", {"pv": self.pv, "output": self.output,
                                     "status": self.status, "model": self.model,
                                     "firmware": self.firmware}, MAX_ADDRESS)


@dataclass(frozen=True, slots=True)
class HoldingRegisters:
    """Read/write registers (functions 03 and 06)."""

    setpoint: int = 0
    run: int = 1
    #: None: the controller has no decimal-point register (the map's decimal places).
    decimal_point: int | None = 2

    def __post_init__(self) -> None:
        _distinct("holding register", {"setpoint": self.setpoint, "run": self.run,
                                       "decimal_point": self.decimal_point}, MAX_ADDRESS)


@dataclass(frozen=True, slots=True)
class StatusBits:
    """Bit numbers (0 = least significant) in the status register."""

    run: int | None = 0
    overtemp: int = 1
    sensor: int = 2
    door: int | None = 3

    def __post_init__(self) -> None:
        _distinct("status bit", {"run": self.run, "overtemp": self.overtemp,
                                 "sensor": self.sensor, "door": self.door}, 15)


@dataclass(frozen=True, slots=True)
class ModbusOvenMap:
    """Slave id, registers, status bits and scaling of one controller."""

    slave_id: int = 1
    #: None: read the controller's decimal-point register when the link opens.
    decimal_places: int | None = None
    inputs: InputRegisters = field(default_factory=InputRegisters)
    holdings: HoldingRegisters = field(default_factory=HoldingRegisters)
    bits: StatusBits = field(default_factory=StatusBits)
    #: The raw process value a controller shows while its thermocouple reads open.
    sensor_open_raw: int | None = -32768
    setpoint_min_c: float = 0.0
    setpoint_max_c: float = 300.0

    def __post_init__(self) -> None:
        if not 1 <= self.slave_id <= 247:
            raise ValueError(f"slave id {self.slave_id} is outside 1–247")
        if self.decimal_places is not None and not 0 <= self.decimal_places <= 3:
            raise ValueError(f"decimal places {self.decimal_places} outside 0–3")
        if self.decimal_places is None and self.holdings.decimal_point is None:
            raise ValueError("give decimal_places: this map has no decimal-point register")
        if self.sensor_open_raw is not None and not -32768 <= self.sensor_open_raw <= 32767:
            raise ValueError(f"sensor_open_raw {self.sensor_open_raw} is not a 16-bit value")
        if not self.setpoint_min_c < self.setpoint_max_c:
            raise ValueError("setpoint_min_c must be below setpoint_max_c")
