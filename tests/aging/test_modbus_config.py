"""The Modbus oven's register map in ``daq.toml``: defaults that match the simulator, a
map as a lab writes it, and bad maps refused with an error that says what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from daq.config import InstrumentConfig, load_settings
from daq.station.instruments import DRIVERS
from drivers.aging_oven_modbus import AgingOvenModbus
from drivers.modbus_map import ModbusOvenMap

TOML = """
[instruments.oven2]
driver = "aging_oven_modbus"
resource = "tcp://10.0.0.7:502"
timeout_s = 1.5

[instruments.oven2.modbus]
slave_id = 7
decimal_places = 1

[instruments.oven2.modbus.input_registers]
pv = 100
status = 101
output = 102
model = 110
firmware = 111

[instruments.oven2.modbus.holding_registers]
setpoint = 200
run = 201
decimal_point = 202

[instruments.oven2.modbus.status_bits]
overtemp = 4
sensor = 5
door = 8
"""


def test_a_register_map_from_daq_toml_reaches_the_driver(tmp_path: Path) -> None:
    path = tmp_path / "daq.toml"
    path.write_text(TOML, encoding="utf-8")
    cfg = load_settings(path).instruments["oven2"]
    driver = DRIVERS[cfg.driver].build(cfg.address(), cfg.timeout_s, cfg.driver_options())
    assert isinstance(driver, AgingOvenModbus)
    assert driver.kind == "tcp" and driver.timeout == 1.5
    m = driver.map
    assert (m.slave_id, m.decimal_places) == (7, 1)
    assert (m.inputs.pv, m.inputs.status, m.holdings.setpoint, m.holdings.run) == (
        100, 101, 200, 201)
    assert (m.bits.overtemp, m.bits.sensor, m.bits.door) == (4, 5, 8)


def test_defaults_are_the_simulators_map() -> None:
    cfg = InstrumentConfig(driver="aging_oven_modbus", resource="/dev/ttyUSB0")
    options = cfg.driver_options()
    assert options["register_map"] == ModbusOvenMap()
    assert options["baudrate"] == 9600


@pytest.mark.parametrize(("modbus", "said"), [
    ({"input_registers": {"pv": 3, "status": 3}}, "status and pv are both at 3"),
    ({"holding_registers": {"setpoint": 5, "run": 5}}, "run and setpoint are both at 5"),
    ({"status_bits": {"overtemp": 2, "sensor": 2}}, "sensor and overtemp are both at 2"),
    ({"status_bits": {"door": 16}}, "less than or equal to 15"),
    ({"slave_id": 0}, "greater than or equal to 1"),
    ({"slave_id": 248}, "less than or equal to 247"),
    ({"holding_registers": {"decimal_point": None}}, "give decimal_places"),
    ({"decimal_places": 5}, "less than or equal to 3"),
    ({"input_registers": {"pv": 70000}}, "less than or equal to 65535"),
    ({"registers": {"pv": 1}}, "Extra inputs are not permitted"),
    ({"setpoint_min_c": 300, "setpoint_max_c": 100}, "below setpoint_max_c"),
])
def test_a_bad_register_map_is_a_clear_config_error(modbus: dict[str, object], said: str
                                                    ) -> None:
    with pytest.raises(ValidationError, match=said):
        InstrumentConfig(driver="aging_oven_modbus", resource="/dev/ttyUSB0", modbus=modbus)


def test_a_modbus_table_on_another_driver_is_refused() -> None:
    with pytest.raises(ValidationError, match="belongs to driver aging_oven_modbus"):
        InstrumentConfig(driver="aging_oven", resource="ASRL/dev/ttyUSB0::INSTR", modbus={})
