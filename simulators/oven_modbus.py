"""The aging oven behind a Modbus PID temperature controller: the same thermal model and
faults as :mod:`simulators.oven` (an :class:`~simulators.oven.OvenSim` is the instrument),
served by pymodbus's own server as registers, over Modbus RTU on a pseudo-terminal or
Modbus TCP. The controller keeps no log: what happened while nobody read it is gone.

Register map (PDU addresses, zero-based; slave id 1; values are signed 16-bit, scaled by
the decimal-point register ``dp``: raw 1502 with dp = 1 is 150.2 °C):

=============  =========  ==============================================================
table          address    meaning
=============  =========  ==============================================================
input (FC04)   0          PV, process value (−32768 while the thermocouple reads open)
input          1          output %, × 10 (0–1000)
input          2          status bits: 0 RUN, 1 AL1 over-temperature, 2 sensor break,
                          3 door open (digital input DI1)
input          3          model code (1500)
input          4          firmware version × 100
holding (FC03  0          SV, setpoint (0–300 °C; outside → exception 03, illegal value)
/06/16)
holding        1          run/stop: 1 run, 0 stop (anything else → exception 03)
holding        2          dp, decimal places 0–2 (default 1)
=============  =========  ==============================================================

Any other address answers exception 02 (illegal data address). The framework's wire
faults work here too: ``garble[,n]`` corrupts the next n replies (an RTU reply then fails
its CRC), ``stall[,s]`` swallows requests, ``drop`` closes every link (the pty is made
again behind the same name). ``door``, ``overtemp``, ``sensor`` are the oven's own.

RTU on a pty: pymodbus's serial server opens one pty's slave side, and a second pty,
the one clients open (behind ``link``), is joined to it master to master — a null-modem
cable in software, as ``socat`` would make it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import termios
import tty
from pathlib import Path

from pymodbus import FramerType
from pymodbus.constants import ExcCodes
from pymodbus.pdu import ModbusPDU
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from simulators.oven import AMBIENT_C, SETPOINT_MAX_C, SETPOINT_MIN_C, OvenSim

SLAVE_ID = 1
MODEL_CODE = 1500
FIRMWARE = 120
SENSOR_OPEN_RAW = -32768
#: Input registers.
IR_PV, IR_OUTPUT, IR_STATUS, IR_MODEL, IR_FIRMWARE = 0, 1, 2, 3, 4
#: Holding registers.
HR_SV, HR_RUN, HR_DP = 0, 1, 2
#: Status bits.
BIT_RUN, BIT_OVERTEMP, BIT_SENSOR, BIT_DOOR = 0, 1, 2, 3
#: Proportional gain of the derived output (% per °C below the setpoint).
OUTPUT_GAIN = 5.0

FC_READ_HOLDING, FC_READ_INPUT = 3, 4
FC_WRITES = frozenset({6, 16, 22, 23})


def _u16(value: int) -> int:
    return value & 0xFFFF


def _s16(raw: int) -> int:
    return raw - 0x10000 if raw >= 0x8000 else raw


class OvenRegisters:
    """The controller's registers, read from and written to the oven model on demand."""

    def __init__(self, oven: OvenSim, decimal_places: int = 1) -> None:
        self.oven = oven
        self.decimal_places = decimal_places

    def _raw(self, celsius: float) -> int:
        raw = round(celsius * 10.0**self.decimal_places)
        return max(-32767, min(32767, raw))

    def output_percent(self) -> float:
        """Heater output: what holding the setpoint costs, plus a proportional term."""
        oven = self.oven
        if not oven.running:
            return 0.0
        hold = 100.0 * (oven.setpoint_c - AMBIENT_C) / (SETPOINT_MAX_C - AMBIENT_C)
        return max(0.0, min(100.0, hold + OUTPUT_GAIN * (oven.setpoint_c - oven.chamber_c)))

    def inputs(self) -> dict[int, int]:
        """Every input register, now."""
        oven = self.oven
        oven.update()
        now = oven.clock.now()
        reading = oven.reading(now)
        pv = SENSOR_OPEN_RAW if reading.pv_c is None else self._raw(reading.pv_c)
        status = (int(oven.running) << BIT_RUN
                  | int("OVERTEMP" in reading.alarms) << BIT_OVERTEMP
                  | int("SENSOR" in reading.alarms) << BIT_SENSOR
                  | int(reading.door_open) << BIT_DOOR)
        return {IR_PV: _u16(pv), IR_OUTPUT: round(self.output_percent() * 10),
                IR_STATUS: status, IR_MODEL: MODEL_CODE, IR_FIRMWARE: FIRMWARE}

    def holdings(self) -> dict[int, int]:
        """Every holding register, now."""
        return {HR_SV: _u16(self._raw(self.oven.setpoint_c)), HR_RUN: int(self.oven.running),
                HR_DP: self.decimal_places}

    def write(self, address: int, raw: int) -> ExcCodes | None:
        """Write one holding register; an exception code when the controller refuses."""
        self.oven.update()
        if address == HR_SV:
            celsius = _s16(raw) / 10**self.decimal_places
            if not SETPOINT_MIN_C <= celsius <= SETPOINT_MAX_C:
                return ExcCodes.ILLEGAL_VALUE
            self.oven.setpoint_c = celsius
        elif address == HR_RUN:
            if raw not in (0, 1):
                return ExcCodes.ILLEGAL_VALUE
            self.oven.running = raw == 1
        elif address == HR_DP:
            if raw not in (0, 1, 2):
                return ExcCodes.ILLEGAL_VALUE
            self.decimal_places = raw
        else:
            return ExcCodes.ILLEGAL_ADDRESS
        return None

    async def action(self, function_code: int, start_address: int, address: int, count: int,
                     registers: list[int], set_values: list[int] | list[bool] | None
                     ) -> ExcCodes | None:
        """pymodbus's hook before every access: fill the registers from the model, or
        apply a write to it."""
        if function_code in FC_WRITES and set_values is not None:
            for i, value in enumerate(set_values):
                refused = self.write(address + i, int(value))
                if refused is not None:
                    return refused
            return None
        # A write is read back (the reply echoes it): a holding read then.
        holding = function_code == FC_READ_HOLDING or function_code in FC_WRITES
        table = (self.inputs() if function_code == FC_READ_INPUT
                 else self.holdings() if holding else None)
        if table is None:
            return ExcCodes.ILLEGAL_FUNCTION
        for i in range(count):
            current = table.get(address + i)
            if current is None:
                return ExcCodes.ILLEGAL_ADDRESS
            registers[address + i - start_address] = current
        return None

    def device(self, slave_id: int = SLAVE_ID) -> SimDevice:
        """The pymodbus device: holding and input registers backed by the model."""
        def block(count: int) -> list[SimData]:
            return [SimData(0, count=count, values=0, datatype=DataType.REGISTERS)]

        no_bits = [SimData(0, count=1, values=False, datatype=DataType.BITS)]
        return SimDevice(slave_id, simdata=(no_bits, no_bits, block(3), block(5)),
                         action=self.action)


class _WireFaults:
    """The framework's ``stall`` and ``garble`` faults, applied by pymodbus's trace hooks."""

    def __init__(self, oven: OvenSim, framer: FramerType) -> None:
        self.oven = oven
        self.framer = framer

    def pdu(self, sending: bool, pdu: ModbusPDU) -> ModbusPDU | None:
        if not sending and self.oven.faults.stalled:
            return None  # a hung controller: no reply at all
        return pdu

    def packet(self, sending: bool, data: bytes) -> bytes:
        faults = self.oven.faults
        if not sending or faults.garble_next <= 0 or len(data) < 4:
            return data
        faults.garble_next -= 1
        damaged = bytearray(data)
        if self.framer == FramerType.RTU:
            damaged[len(damaged) // 2] ^= 0x5A  # the CRC no longer matches
        else:
            damaged[7] = 0x5A  # MBAP intact, a function code no controller sends
        return bytes(damaged)


def _raw_pty() -> tuple[int, int]:
    master, slave = os.openpty()
    tty.setraw(slave, termios.TCSANOW)
    attrs = termios.tcgetattr(slave)
    attrs[3] &= ~termios.ECHO
    termios.tcsetattr(slave, termios.TCSANOW, attrs)
    os.set_blocking(master, False)
    return master, slave


class _Bridge:
    """Two ptys joined master to master: bytes written to one slave come out of the other."""

    def __init__(self) -> None:
        self.server_master, self.server_slave = _raw_pty()
        self.client_master: int | None = None
        self.client_slave: int | None = None
        self.client_device = ""
        loop = asyncio.get_running_loop()
        loop.add_reader(self.server_master, self._pump, self.server_master, True)

    @property
    def server_device(self) -> str:
        return os.ttyname(self.server_slave)

    def open_client(self) -> str:
        self.client_master, self.client_slave = _raw_pty()
        self.client_device = os.ttyname(self.client_slave)
        asyncio.get_running_loop().add_reader(self.client_master, self._pump,
                                              self.client_master, False)
        return self.client_device

    def close_client(self) -> None:
        if self.client_master is not None:
            asyncio.get_running_loop().remove_reader(self.client_master)
            for fd in (self.client_master, self.client_slave):
                with contextlib.suppress(OSError, TypeError):
                    os.close(fd)  # type: ignore[arg-type]
        self.client_master = self.client_slave = None

    def _pump(self, source: int, from_server: bool) -> None:
        try:
            data = os.read(source, 4096)
        except OSError:
            return
        target = self.client_master if from_server else self.server_master
        if target is None or not data:
            return  # nobody on the other end of the cable
        with contextlib.suppress(OSError):
            os.write(target, data)

    def close(self) -> None:
        self.close_client()
        asyncio.get_running_loop().remove_reader(self.server_master)
        for fd in (self.server_master, self.server_slave):
            with contextlib.suppress(OSError):
                os.close(fd)


class ModbusRtuServer:
    """Serves an oven as a Modbus RTU slave on a pseudo-terminal (``link``: a stable
    symlink to it, as for :class:`simulators.servers.PtyServer`)."""

    def __init__(self, instrument: OvenSim, link: str | Path | None = None,
                 slave_id: int = SLAVE_ID, baudrate: int = 9600) -> None:
        self.instrument = instrument
        self.registers = OvenRegisters(instrument)
        self.link = Path(link) if link else None
        self.slave_id = slave_id
        self.baudrate = baudrate
        self._bridge: _Bridge | None = None
        self._server: ModbusSerialServer | None = None
        self._drop_task: asyncio.Task[None] | None = None

    @property
    def resource(self) -> str:
        """The serial port clients open (the link when there is one)."""
        if self.link is not None:
            return str(self.link)
        return self._bridge.client_device if self._bridge else ""

    async def start(self) -> str:
        """Create the ptys, start pymodbus's serial server, return the port."""
        self.instrument.start()
        self._bridge = _Bridge()
        self._publish(self._bridge.open_client())
        wire = _WireFaults(self.instrument, FramerType.RTU)
        self._server = ModbusSerialServer(
            self.registers.device(self.slave_id), framer=FramerType.RTU,
            port=self._bridge.server_device, baudrate=self.baudrate,
            trace_packet=wire.packet, trace_pdu=wire.pdu)  # type: ignore[arg-type]
        await self._server.serve_forever(background=True)
        self._drop_task = asyncio.get_running_loop().create_task(self._watch_drop())
        return self.resource

    def _publish(self, device: str) -> None:
        if self.link is None:
            return
        self.link.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.link.with_name(self.link.name + ".new")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        tmp.symlink_to(device)
        tmp.replace(self.link)

    async def _watch_drop(self) -> None:
        while True:
            await self.instrument.faults.drop_requested.wait()
            self.instrument.faults.drop_requested.clear()
            if self._bridge is not None:
                self._bridge.close_client()  # the client's port vanishes
                await asyncio.sleep(0.05)
                self._publish(self._bridge.open_client())

    async def stop(self) -> None:
        """Stop the server, close the ptys, remove the link, stop the physics."""
        if self._drop_task is not None:
            self._drop_task.cancel()
        if self._server is not None:
            await self._server.shutdown()  # type: ignore[no-untyped-call]
        if self._bridge is not None:
            self._bridge.close()
        if self.link is not None:
            with contextlib.suppress(FileNotFoundError):
                self.link.unlink()
        await self.instrument.stop()


class ModbusTcpSimServer:
    """Serves an oven as a Modbus TCP server on ``host:port`` (resource ``tcp://host:port``)."""

    def __init__(self, instrument: OvenSim, host: str = "127.0.0.1", port: int = 0,
                 slave_id: int = SLAVE_ID) -> None:
        self.instrument = instrument
        self.registers = OvenRegisters(instrument)
        self.host = host
        self.port = port
        self.slave_id = slave_id
        self._server: ModbusTcpServer | None = None
        self._drop_task: asyncio.Task[None] | None = None

    @property
    def resource(self) -> str:
        """Where clients connect."""
        return f"tcp://{self.host}:{self.port}"

    async def start(self) -> str:
        """Listen and return the resource."""
        self.instrument.start()
        if self.port == 0:  # pymodbus does not report an ephemeral port: pick a free one
            import socket

            with socket.socket() as probe:
                probe.bind((self.host, 0))
                self.port = probe.getsockname()[1]
        wire = _WireFaults(self.instrument, FramerType.SOCKET)
        self._server = ModbusTcpServer(
            self.registers.device(self.slave_id), address=(self.host, self.port),
            trace_packet=wire.packet, trace_pdu=wire.pdu)  # type: ignore[arg-type]
        await self._server.serve_forever(background=True)
        self._drop_task = asyncio.get_running_loop().create_task(self._watch_drop())
        return self.resource

    def drop_clients(self) -> None:
        """Close every client connection now."""
        if self._server is None:
            return
        for connection in list(self._server.active_connections.values()):
            connection.close()

    async def _watch_drop(self) -> None:
        while True:
            await self.instrument.faults.drop_requested.wait()
            self.instrument.faults.drop_requested.clear()
            self.drop_clients()

    async def stop(self) -> None:
        """Stop listening, drop clients, stop the physics."""
        if self._drop_task is not None:
            self._drop_task.cancel()
        if self._server is not None:
            self.drop_clients()
            await self._server.shutdown()  # type: ignore[no-untyped-call]
        await self.instrument.stop()
