"""Service configuration: ``daq.toml`` plus ``DAQ_*`` environment variables (env wins).

With no instruments configured, the service starts the four simulators itself and
connects to them (the embedded default).
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from drivers.modbus_map import HoldingRegisters, InputRegisters, ModbusOvenMap, StatusBits

DriverName = Literal["lamination_press", "peel_tester", "aging_oven", "uv_laser",
                     "aging_oven_modbus"]

class ModbusInputRegisters(BaseModel):
    """Input registers (function 04) of a Modbus oven controller, zero-based addresses."""

    model_config = ConfigDict(extra="forbid")

    pv: int = Field(default=0, ge=0, le=0xFFFF, description="process value")
    output: int | None = Field(default=1, ge=0, le=0xFFFF, description="output %, x10")
    status: int = Field(default=2, ge=0, le=0xFFFF, description="status/alarm bits")
    model: int | None = Field(default=3, ge=0, le=0xFFFF, description="model code")
    firmware: int | None = Field(default=4, ge=0, le=0xFFFF, description="firmware x100")


class ModbusHoldingRegisters(BaseModel):
    """Holding registers (functions 03/06) of a Modbus oven controller."""

    model_config = ConfigDict(extra="forbid")

    setpoint: int = Field(default=0, ge=0, le=0xFFFF, description="setpoint (SV)")
    run: int = Field(default=1, ge=0, le=0xFFFF, description="run/stop: 1 run, 0 stop")
    decimal_point: int | None = Field(
        default=2, ge=0, le=0xFFFF,
        description="decimal places register (none: give decimal_places)")


class ModbusStatusBits(BaseModel):
    """Bit numbers in the status register."""

    model_config = ConfigDict(extra="forbid")

    run: int | None = Field(default=0, ge=0, le=15)
    overtemp: int = Field(default=1, ge=0, le=15)
    sensor: int = Field(default=2, ge=0, le=15)
    door: int | None = Field(default=3, ge=0, le=15)


class ModbusOvenConfig(BaseModel):
    """The register map of a Modbus PID oven controller (``[instruments.X.modbus]``);
    the defaults are those of the simulator (``daq simulate oven-modbus``)."""

    model_config = ConfigDict(extra="forbid")

    slave_id: int = Field(default=1, ge=1, le=247, description="Modbus slave (unit) id")
    decimal_places: int | None = Field(
        default=None, ge=0, le=3,
        description="scaling of temperatures (none: read the decimal-point register)")
    sensor_open_raw: int | None = Field(
        default=-32768, ge=-32768, le=32767,
        description="the raw PV the controller shows for an open thermocouple")
    setpoint_min_c: float = 0.0
    setpoint_max_c: float = 300.0
    input_registers: ModbusInputRegisters = Field(default_factory=ModbusInputRegisters)
    holding_registers: ModbusHoldingRegisters = Field(default_factory=ModbusHoldingRegisters)
    status_bits: ModbusStatusBits = Field(default_factory=ModbusStatusBits)

    @model_validator(mode="after")
    def _map_holds(self) -> ModbusOvenConfig:
        self.register_map()  # overlapping registers, bits, scaling: ValueError in words
        return self

    def register_map(self) -> ModbusOvenMap:
        """The driver's register map."""
        return ModbusOvenMap(
            slave_id=self.slave_id, decimal_places=self.decimal_places,
            inputs=InputRegisters(**self.input_registers.model_dump()),
            holdings=HoldingRegisters(**self.holding_registers.model_dump()),
            bits=StatusBits(**self.status_bits.model_dump()),
            sensor_open_raw=self.sensor_open_raw, setpoint_min_c=self.setpoint_min_c,
            setpoint_max_c=self.setpoint_max_c)


class InstrumentConfig(BaseModel):
    """One instrument: which driver speaks to it and where it is."""

    driver: DriverName
    resource: str | None = Field(
        default=None,
        description="VISA resource string, e.g. TCPIP::127.0.0.1::5025::SOCKET or "
        "ASRL/dev/ttyUSB0::INSTR",
    )
    port: str | None = Field(default=None, description="plain serial port, e.g. /dev/ttyUSB0")
    baudrate: int = 9600
    timeout_s: float = Field(default=2.0, gt=0, description="reply timeout, real seconds")
    poll_interval_s: float = Field(
        default=0.2, gt=0, description="acquisition poll interval, real seconds"
    )
    simulated: bool = Field(
        default=False,
        description="served by a simulator in another process (`daq simulate`): the "
        "station tells it what each specimen is made of through its side door "
        "(`simulator_door`, or the one a pty simulator announces beside its link)",
    )
    simulator_door: str | None = Field(
        default=None,
        description="the simulator's side door, TCPIP::host::port::SOCKET, as `daq "
        "simulate` prints it (implies simulated)",
    )

    modbus: ModbusOvenConfig | None = Field(
        default=None,
        description="register map of an aging_oven_modbus controller (default: the "
        "simulator's); resource is a serial port or tcp://host:port")

    @model_validator(mode="after")
    def _modbus_only_for_modbus(self) -> InstrumentConfig:
        if self.modbus is not None and self.driver != "aging_oven_modbus":
            raise ValueError(f"a [modbus] table belongs to driver aging_oven_modbus, "
                             f"not {self.driver}")
        return self

    def driver_options(self) -> dict[str, object]:
        """Keyword arguments of the driver beyond resource and timeout."""
        if self.driver == "aging_oven_modbus":
            return {"baudrate": self.baudrate,
                    "register_map": (self.modbus or ModbusOvenConfig()).register_map()}
        return {}

    def address(self) -> str:
        """The VISA resource string of this instrument (a plain port becomes ASRL…::INSTR)."""
        if self.resource:
            return self.resource
        if self.port:
            return f"ASRL{self.port}::INSTR"
        raise ValueError("an instrument needs `resource` or `port`")


class Settings(BaseSettings):
    """Every setting of the service; see README for the meaning of each."""

    model_config = SettingsConfigDict(env_prefix="DAQ_", extra="ignore")

    config: Path | None = None
    database_url: str = "sqlite+aiosqlite:///lamina.db"
    mqtt_url: str = "embedded"
    mqtt_prefix: str = "lamina/lab1"
    embedded_mqtt_port: int = 1884
    time_scale: float = Field(default=1.0, gt=0)
    time_origin: float | None = None
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    station: str = "lab1"
    #: The queue goes on after a FAULTED or INCOMPLETE item (queueserver's
    #: ``ignore_failures``); by default it stops, as queueserver's does.
    queue_ignore_failures: bool = False
    readings_batch_size: int = Field(default=500, gt=0)
    readings_flush_interval_s: float = Field(default=0.5, gt=0)
    mqtt_readings_queue: int = Field(default=100_000, gt=0)
    journal_dir: Path | None = Field(
        default=None,
        description="where the journal spills records while the database is slow or down "
        "(default: <sqlite file>.journal/ beside a SQLite database, else "
        "$XDG_STATE_HOME/lamina/journal/<station>-<hash of the URL>)",
    )
    journal_max_memory: int = Field(
        default=1000, gt=0, description="records the journal holds in memory before it spills"
    )
    journal_max_spill_mb: float = Field(
        default=256.0, gt=0, description="size of the spill file at which the journal is full"
    )
    journal_slow_after_s: float = Field(
        default=1.0, gt=0, description="a database write slower than this (real s) spills"
    )
    journal_lag_records: int = Field(
        default=200, gt=0, description="journal depth above which /health says degraded"
    )
    journal_lag_age_s: float = Field(
        default=5.0, gt=0,
        description="age (real s) of the oldest unstored record above which /health says "
        "degraded",
    )
    campaigns_dir: Path = Field(
        default=Path("campaigns"),
        description="campaign files (*.toml) the dashboard offers to start (relative to "
        "where the station runs)")
    instruments: dict[str, InstrumentConfig] = Field(default_factory=dict)
    opcua_url: str | None = Field(
        default=None, description="serve the station read-only over OPC UA at this "
        "endpoint, e.g. opc.tcp://0.0.0.0:4840 (off when unset; docs/opcua.md)")
    opcua_certificate: Path | None = Field(
        default=None, description="the OPC UA server's certificate (DER or PEM); with "
        "opcua_private_key it also offers Basic256Sha256 SignAndEncrypt and encrypts "
        "passwords on every endpoint")
    opcua_private_key: Path | None = Field(
        default=None, description="the private key (PEM) of opcua_certificate")
    opcua_allow_anonymous: bool = Field(
        default=False, description="let OPC UA clients in without a user name (read-only "
        "still); by default only the station's users (viewer and up) may connect")
    claim_heartbeat_s: float = Field(
        default=5.0, gt=0, description="wall seconds between heartbeats of instrument claims")
    claim_stale_s: float = Field(
        default=15.0, gt=0, description="a claim whose heartbeat is older (wall seconds) may "
        "be taken over; 3x the heartbeat interval")

    @property
    def simulated(self) -> bool:
        """True when no instruments are configured and the simulators are used."""
        return not self.instruments

    def journal_directory(self) -> Path:
        """The journal's directory: ``journal_dir``, else beside the SQLite file, else a
        per-station, per-database directory under the user's state directory."""
        if self.journal_dir is not None:
            return self.journal_dir
        from sqlalchemy.engine import make_url

        url = make_url(self.database_url)
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            return Path(str(url.database) + ".journal")
        state = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
        digest = hashlib.sha1(self.database_url.encode()).hexdigest()[:10]
        return state / "lamina" / "journal" / f"{self.station}-{digest}"


def load_settings(config_path: Path | str | None = None, **overrides: Any) -> Settings:
    """Settings from the TOML file (``--config`` / ``DAQ_CONFIG``), then env, then overrides."""
    path = config_path or os.environ.get("DAQ_CONFIG")
    file_values: dict[str, Any] = {}
    if path:
        with open(path, "rb") as fh:
            file_values = tomllib.load(fh)
        file_values["config"] = Path(path)
    env_settings = Settings()
    merged: dict[str, Any] = dict(file_values)
    # Environment wins over the file: only fields set in the environment override.
    for name in env_settings.model_fields_set:
        merged[name] = getattr(env_settings, name)
    merged.update({k: v for k, v in overrides.items() if v is not None})
    return Settings(**merged)
