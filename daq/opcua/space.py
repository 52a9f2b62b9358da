"""The station's address space and the writes that keep it current.

Under ``Objects/Lamina`` (namespace ``urn:lamina-daq``), with string node ids that a
client can type::

    Lamina                      Station (String): the station's name; Alarms (String[])
      press1                    an object per instrument (its name), with
        Driver                  String: lamination_press, peel_tester, …
        Status, StatusDetail    String: online / offline / fault, and why
        Alarms                  String[]: its last alarms, newest first, "severity: text"
        temp_top, …             Double per channel, in engineering units, with the
                                EngineeringUnits property (EUInformation); added with the
                                instrument's first reading; SourceTimestamp = reading ts
      Run                       RunId, Kind, Instrument, State, Phase (String),
                                Progress (Double 0..1)

Node ids: ``ns=<urn:lamina-daq>;s=press1.temp_top``, ``…;s=press1.Status``,
``…;s=Run.State``. Every variable is CurrentRead only; all writes happen here, from
the server's own side. Used only on the OPC UA server's loop.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from asyncua import ua
from asyncua.common.node import Node
from asyncua.server.server import Server
from asyncua.ua.attribute_ids import AttributeIds
from asyncua.ua.object_ids import ObjectIds

from daq.messages import Alarm, InstrumentStatus, Reading
from daq.opcua.runs import RunView
from daq.opcua.units import eu_information

NAMESPACE_URI = "urn:lamina-daq"
#: Alarms kept per instrument (and for the station) in the ``Alarms`` arrays.
ALARMS_KEPT = 20


def timestamp(ts: float) -> ua.DateTime:
    """An OPC UA DateTime (UTC) of a station timestamp (simulated epoch seconds)."""
    return ua.DateTime.fromtimestamp(ts, tz=dt.UTC)


def string_node_id(ident: str, ns: int) -> ua.NodeId:
    """The string node id ``ns=<ns>;s=<ident>``."""
    return ua.NodeId(ua.String(ident), ua.Int16(ns))


@dataclass
class Update:
    """What arrived on the bus in one turn, coalesced: the latest of each thing."""

    readings: dict[tuple[str, str], tuple[float, str, float]] = field(default_factory=dict)
    statuses: dict[str, InstrumentStatus] = field(default_factory=dict)
    alarms: list[Alarm] = field(default_factory=list)
    run: RunView | None = None

    def add_reading(self, reading: Reading) -> None:
        """Keep the latest value of each of the reading's channels."""
        for channel, value in reading.values.items():
            key = (reading.instrument, channel)
            if key not in self.readings or self.readings[key][2] <= reading.ts:
                self.readings[key] = (value.v, value.unit, reading.ts)

    def __bool__(self) -> bool:
        return bool(self.readings or self.statuses or self.alarms or self.run is not None)


class StationSpace:
    """The nodes of one station in a running asyncua server, and their updates."""

    def __init__(self, server: Server, station: str, instruments: Mapping[str, str]) -> None:
        self.server = server
        self.station = station
        self.instruments = dict(instruments)
        self.ns = 0
        self.root: Node
        self._objects: dict[str, Node] = {}
        self._channels: dict[tuple[str, str], ua.NodeId] = {}
        self._alarms: dict[str, list[str]] = {}

    def node_id(self, name: str) -> ua.NodeId:
        """The node id of ``name`` (``press1.temp_top``) in the station's namespace."""
        return string_node_id(name, self.ns)

    async def build(self) -> None:
        """Create the folder, an object per instrument and the Run object."""
        self.ns = await self.server.register_namespace(NAMESPACE_URI)
        objects = self.server.nodes.objects
        self.root = await objects.add_folder(self.node_id("Lamina"), f"{self.ns}:Lamina")
        await self._variable(self.root, "Station", self.station, ua.VariantType.String)
        await self._variable(self.root, "Alarms", [], ua.VariantType.String, array=True)
        for name, driver in sorted(self.instruments.items()):
            obj = await self.root.add_object(self.node_id(name), f"{self.ns}:{name}")
            self._objects[name] = obj
            await self._variable(obj, "Driver", driver, ua.VariantType.String, prefix=name)
            await self._variable(obj, "Status", "connecting", ua.VariantType.String,
                                 prefix=name)
            await self._variable(obj, "StatusDetail", "", ua.VariantType.String, prefix=name)
            await self._variable(obj, "Alarms", [], ua.VariantType.String, prefix=name,
                                 array=True)
        run = await self.root.add_object(self.node_id("Run"), f"{self.ns}:Run")
        for var in ("RunId", "Kind", "Instrument", "State", "Phase"):
            await self._variable(run, var, "", ua.VariantType.String, prefix="Run")
        await self._variable(run, "Progress", 0.0, ua.VariantType.Double, prefix="Run")

    async def _variable(self, parent: Node, name: str, value: object,
                        vtype: ua.VariantType, *, prefix: str | None = None,
                        array: bool = False) -> Node:
        ident = f"{prefix}.{name}" if prefix else name
        var = await parent.add_variable(self.node_id(ident), f"{self.ns}:{name}",
                                        ua.Variant(value, vtype), vtype)
        if array:
            await var.write_value_rank(ua.ValueRank.OneDimension)
        # add_variable makes it CurrentRead only; said again here, as the contract.
        access = ua.AccessLevel.CurrentRead.mask
        await var.write_attribute(AttributeIds.AccessLevel,
                                  ua.DataValue(ua.Variant(access, ua.VariantType.Byte)))
        await var.write_attribute(AttributeIds.UserAccessLevel,
                                  ua.DataValue(ua.Variant(access, ua.VariantType.Byte)))
        return var

    async def _channel(self, instrument: str, channel: str, unit: str) -> ua.NodeId | None:
        key = (instrument, channel)
        if key in self._channels:
            return self._channels[key]
        obj = self._objects.get(instrument)
        if obj is None:
            return None  # not an instrument of this station's configuration
        var = await self._variable(obj, channel, 0.0, ua.VariantType.Double, prefix=instrument)
        eu = eu_information(unit)
        if eu is not None:
            await var.add_property(self.node_id(f"{instrument}.{channel}.EngineeringUnits"),
                                   ua.QualifiedName("EngineeringUnits", 0), eu,
                                   ua.VariantType.ExtensionObject,
                                   ua.NodeId(ua.Int32(ObjectIds.EUInformation)))
        self._channels[key] = var.nodeid
        return var.nodeid

    async def _write(self, node_id: ua.NodeId, value: object, vtype: ua.VariantType,
                     ts: float) -> None:
        await self.server.write_attribute_value(node_id, ua.DataValue(
            ua.Variant(value, vtype), SourceTimestamp=timestamp(ts),
            ServerTimestamp=ua.DateTime.now(dt.UTC)))

    async def apply(self, update: Update) -> None:
        """Write one turn's values."""
        for (instrument, channel), (v, unit, ts) in update.readings.items():
            node_id = await self._channel(instrument, channel, unit)
            if node_id is not None:
                await self._write(node_id, float(v), ua.VariantType.Double, ts)
        for name, status in update.statuses.items():
            if name in self._objects:
                await self._write(self.node_id(f"{name}.Status"), status.state,
                                  ua.VariantType.String, status.ts)
                await self._write(self.node_id(f"{name}.StatusDetail"), status.detail,
                                  ua.VariantType.String, status.ts)
        await self._apply_alarms(update.alarms)
        if update.run is not None:
            await self._apply_run(update.run)

    async def _apply_alarms(self, alarms: Iterable[Alarm]) -> None:
        touched: dict[str, float] = {}
        for alarm in alarms:
            text = f"{alarm.severity}: {alarm.message}"
            for where in {"", alarm.source} if alarm.source in self._objects else {""}:
                kept = self._alarms.setdefault(where, [])
                kept.insert(0, text)
                del kept[ALARMS_KEPT:]
                touched[where] = alarm.ts
        for where, ts in touched.items():
            ident = f"{where}.Alarms" if where else "Alarms"
            await self._write(self.node_id(ident), list(self._alarms[where]),
                              ua.VariantType.String, ts)

    async def _apply_run(self, run: RunView) -> None:
        for var, value in (("RunId", run.run_id), ("Kind", run.kind),
                           ("Instrument", run.instrument), ("State", run.state),
                           ("Phase", run.phase)):
            await self._write(self.node_id(f"Run.{var}"), value, ua.VariantType.String, run.ts)
        await self._write(self.node_id("Run.Progress"), float(run.progress),
                          ua.VariantType.Double, run.ts)
