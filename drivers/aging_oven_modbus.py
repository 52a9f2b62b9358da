"""Driver of an aging oven whose controller is a Modbus PID temperature controller:
Modbus RTU on a serial port (RS-485 adapter, or a pty) or Modbus TCP, over pymodbus's
async clients. It offers the same :class:`drivers.oven.Oven` face as the serial oven,
except the log: such a controller keeps none (:meth:`AgingOvenModbus.history` is None)::

    async with AgingOvenModbus("/dev/ttyUSB0") as oven:        # or "tcp://10.0.0.7:502"
        await oven.set_setpoint_c(150)
        pv = await oven.process_value_c()

The register map (slave id, addresses, status bits, decimal places) is a
:class:`drivers.modbus_map.ModbusOvenMap`. Every failure is one of the typed errors of
:mod:`drivers.errors`: an exception reply → :class:`InstrumentCommandError` (its Modbus
exception code), a reply that fails its CRC or does not decode → :class:`ProtocolError`,
silence → :class:`InstrumentTimeout`, no link → :class:`InstrumentConnectionError`.
"""

from __future__ import annotations

import asyncio
import math
from types import TracebackType
from typing import Self

from pymodbus import FramerType
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException
from pymodbus.pdu import ExceptionResponse, ModbusPDU

from drivers.aging_oven import SENSOR_FAULT_CODE, OvenSensorFault
from drivers.errors import (
    InstrumentCommandError,
    InstrumentConnectionError,
    InstrumentTimeout,
    InvalidResource,
    ProtocolError,
)
from drivers.modbus_map import ModbusOvenMap
from drivers.oven import Oven

#: Modbus exception codes and what they mean.
EXCEPTION_TEXT = {1: "illegal function", 2: "illegal data address", 3: "illegal data value",
                  4: "slave device failure", 5: "acknowledge", 6: "slave device busy",
                  10: "gateway path unavailable", 11: "gateway target failed to respond"}


def parse_resource(resource: str) -> tuple[str, str, int]:
    """``tcp://host:port`` → ("tcp", host, port); a serial port (``/dev/ttyUSB0``,
    ``rtu:///dev/ttyUSB0`` or VISA ``ASRL/dev/ttyUSB0::INSTR``) → ("rtu", path, 0)."""
    text = resource.strip()
    if text.lower().startswith("tcp://"):
        host, sep, port = text[6:].rstrip("/").rpartition(":")
        if not sep:
            host, port = text[6:].rstrip("/"), "502"
        try:
            number = int(port)
        except ValueError:
            raise InvalidResource(f"bad Modbus TCP port {port!r}", resource=resource) from None
        if not host or not 0 < number < 65536:
            raise InvalidResource("expected tcp://host:port", resource=resource)
        return "tcp", host, number
    if text.lower().startswith("rtu://"):
        text = text[6:]
    elif text.upper().startswith("ASRL") and text.upper().endswith("::INSTR"):
        text = text[4:-7]
    if not text:
        raise InvalidResource("expected a serial port or tcp://host:port", resource=resource)
    return "rtu", text, 0


def _crc16(data: bytes) -> int:
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def _s16(raw: int) -> int:
    return raw - 0x10000 if raw >= 0x8000 else raw


class AgingOvenModbus(Oven):
    """An aging oven driven through its Modbus PID controller (no log of its own)."""

    def __init__(self, resource: str, timeout: float = 2.0, baudrate: int = 9600,
                 register_map: ModbusOvenMap | None = None) -> None:
        self._resource = resource
        self.timeout = timeout
        self.baudrate = baudrate
        self.map = register_map or ModbusOvenMap()
        self.kind, self._host, self._port = parse_resource(resource)
        self._client: AsyncModbusSerialClient | AsyncModbusTcpClient | None = None
        self._lock = asyncio.Lock()
        self._received = bytearray()
        #: The decimal places in use (from the map, or read from the controller).
        self.decimal_places: int | None = self.map.decimal_places

    # -- the link ---------------------------------------------------------------------------
    @property
    def resource(self) -> str:
        """The port or ``tcp://host:port``."""
        return self._resource

    @property
    def is_connected(self) -> bool:
        """True while the link is open."""
        return self._client is not None and self._client.connected

    def _trace(self, sending: bool, data: bytes) -> bytes:
        if not sending:
            self._received.extend(data)
        return data

    def _make_client(self) -> AsyncModbusSerialClient | AsyncModbusTcpClient:
        # No retries and no reconnecting of its own: the station decides both.
        if self.kind == "tcp":
            return AsyncModbusTcpClient(self._host, port=self._port, timeout=self.timeout,
                                        retries=0, reconnect_delay=0,
                                        trace_packet=self._trace)
        return AsyncModbusSerialClient(self._host, framer=FramerType.RTU,
                                       baudrate=self.baudrate, timeout=self.timeout,
                                       retries=0, reconnect_delay=0, trace_packet=self._trace)

    async def open(self) -> None:
        """Open the link and learn the decimal places (raises InstrumentConnectionError)."""
        if self.is_connected:
            return
        await self._drop_client()
        client = self._make_client()
        try:
            connected = await client.connect()
        except (OSError, ModbusException) as exc:
            client.close()
            raise InstrumentConnectionError(f"cannot open: {exc}",
                                            resource=self.resource) from None
        if not connected:
            client.close()
            raise InstrumentConnectionError("cannot open the Modbus link",
                                            resource=self.resource)
        self._client = client
        if self.map.decimal_places is None and self.map.holdings.decimal_point is not None:
            raw = await self._read_one(self.map.holdings.decimal_point, holding=True)
            if not 0 <= raw <= 3:
                raise ProtocolError("decimal-point register outside 0–3", reply=str(raw),
                                    resource=self.resource)
            self.decimal_places = raw

    async def connect(self) -> None:
        """Open the link (the same as :meth:`open`)."""
        await self.open()

    async def _drop_client(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    async def close(self) -> None:
        """Close the link; the controller keeps its state."""
        await self._drop_client()

    async def reconnect(self) -> None:
        """Close and open the link again."""
        await self.close()
        await self.open()

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    # -- one exchange each -----------------------------------------------------------------
    async def _exchange(self, what: str, request: str, holding: bool, address: int,
                        count: int = 1, value: int | None = None) -> ModbusPDU:
        async with self._lock:
            client = self._client
            if client is None or not client.connected:
                raise InstrumentConnectionError("the Modbus link is not open",
                                                resource=self.resource)
            self._received.clear()
            slave = self.map.slave_id
            try:
                if value is not None:
                    reply = await client.write_register(address, value & 0xFFFF,
                                                        device_id=slave)
                elif holding:
                    reply = await client.read_holding_registers(address, count=count,
                                                                device_id=slave)
                else:
                    reply = await client.read_input_registers(address, count=count,
                                                              device_id=slave)
            except ConnectionException as exc:
                await self._drop_client()
                raise InstrumentConnectionError(f"link lost during {what}: {exc}",
                                                resource=self.resource) from None
            except ModbusIOException:
                garbled = bytes(self._received)
                lost = not client.connected
                await self._drop_client()  # a late reply must not answer the next request
                if garbled:
                    raise ProtocolError(self._why_garbled(garbled, what),
                                        reply=garbled.hex(" "), resource=self.resource
                                        ) from None
                if lost:
                    raise InstrumentConnectionError(f"link lost during {what}",
                                                    resource=self.resource) from None
                raise InstrumentTimeout(f"no reply to {what} in {self.timeout:g} s",
                                        resource=self.resource) from None
            except (ModbusException, OSError) as exc:
                await self._drop_client()
                raise InstrumentConnectionError(f"{what}: {exc}",
                                                resource=self.resource) from None
        if isinstance(reply, ExceptionResponse):
            code = int(reply.exception_code)
            raise InstrumentCommandError(code, EXCEPTION_TEXT.get(code, "Modbus exception"),
                                         command=request, resource=self.resource)
        return reply

    def _why_garbled(self, data: bytes, what: str) -> str:
        if self.kind == "rtu" and len(data) >= 4:
            body, crc = data[:-2], data[-2] | data[-1] << 8
            if _crc16(body) != crc:
                return f"reply to {what} failed its CRC"
        return f"reply to {what} did not decode"

    async def _read_one(self, address: int, *, holding: bool) -> int:
        table = "holding" if holding else "input"
        request = f"read {table} register {address} (slave {self.map.slave_id})"
        reply = await self._exchange(f"{table} register {address}", request, holding, address)
        registers = list(reply.registers)
        if len(registers) != 1:
            raise ProtocolError(f"expected 1 register from {table} {address}",
                                reply=str(registers), resource=self.resource)
        return int(registers[0])

    async def _write(self, address: int, raw: int) -> None:
        request = f"write holding register {address} = {raw} (slave {self.map.slave_id})"
        await self._exchange(f"holding register {address}", request, True, address, value=raw)

    def _scale(self) -> float:
        if self.decimal_places is None:
            raise InstrumentConnectionError("decimal places not known yet (link not open)",
                                            resource=self.resource)
        return float(10**self.decimal_places)

    async def identify(self) -> str:
        """The controller's identity: model code and firmware when the map has them."""
        parts = [f"MODBUS-PID,slave {self.map.slave_id}"]
        if self.map.inputs.model is not None:
            parts.append(f"model {await self._read_one(self.map.inputs.model, holding=False)}")
        if self.map.inputs.firmware is not None:
            fw = await self._read_one(self.map.inputs.firmware, holding=False)
            parts.append(f"firmware {fw / 100:.2f}")
        return ",".join(parts)

    async def set_setpoint_c(self, setpoint_c: float) -> None:
        """Set the chamber setpoint in °C (checked against the map's range, then sent)."""
        low, high = self.map.setpoint_min_c, self.map.setpoint_max_c
        if not math.isfinite(setpoint_c) or not low <= setpoint_c <= high:
            raise InstrumentCommandError(
                3, f"setpoint {setpoint_c} °C outside {low:g}–{high:g} °C",
                command=f"write setpoint {setpoint_c}", resource=self.resource)
        raw = round(setpoint_c * self._scale())
        if not -32768 <= raw <= 32767:
            raise InstrumentCommandError(3, f"setpoint {setpoint_c} °C does not fit 16 bits",
                                         command=f"write setpoint {setpoint_c}",
                                         resource=self.resource)
        await self._write(self.map.holdings.setpoint, raw)

    async def setpoint_c(self) -> float:
        """The setpoint the controller holds (°C)."""
        raw = _s16(await self._read_one(self.map.holdings.setpoint, holding=True))
        return raw / self._scale()

    async def process_value_c(self) -> float:
        """The chamber temperature (°C); OvenSensorFault while the thermocouple is open."""
        raw = _s16(await self._read_one(self.map.inputs.pv, holding=False))
        if self.map.sensor_open_raw is not None and raw == self.map.sensor_open_raw:
            raise OvenSensorFault(SENSOR_FAULT_CODE, "sensor break",
                                  command="read process value", resource=self.resource)
        return raw / self._scale()

    async def output_percent(self) -> float:
        """The controller's output (heater drive), % (None in the map: not offered)."""
        if self.map.inputs.output is None:
            raise InstrumentCommandError(2, "this controller's map has no output register",
                                         command="read output", resource=self.resource)
        return await self._read_one(self.map.inputs.output, holding=False) / 10.0

    async def set_running(self, running: bool) -> None:
        """Run (heater under control) or stop."""
        await self._write(self.map.holdings.run, 1 if running else 0)

    async def running(self) -> bool:
        """True while the controller runs."""
        return await self._read_one(self.map.holdings.run, holding=True) == 1

    async def _status(self) -> int:
        return await self._read_one(self.map.inputs.status, holding=False)

    async def alarms(self) -> tuple[str, ...]:
        """The active alarms: ``OVERTEMP`` (AL1), ``SENSOR`` (sensor break)."""
        status = await self._status()
        found = []
        if status >> self.map.bits.overtemp & 1:
            found.append("OVERTEMP")
        if status >> self.map.bits.sensor & 1:
            found.append("SENSOR")
        return tuple(found)

    async def door_open(self) -> bool:
        """The door switch (a digital input of the controller); False without one."""
        if self.map.bits.door is None:
            return False
        return bool(await self._status() >> self.map.bits.door & 1)

    def history(self) -> None:
        """A PID controller keeps no log: what happened while unread is not known."""
        return None
