"""What a campaign needs of the station: all four instruments, and its clock.

The clock of a resumed campaign continues the stored time line: simulated time at the
restart is what the stored clock would show had it run on (the downtime counts, as it
would for real), expressed as the ``time_origin`` every part of the station uses.
"""

from __future__ import annotations

import time

from daq.campaign.state import ClockAnchor
from daq.clock import continuous_origin
from daq.config import Settings
from daq.station.interface import Driver, Station
from daq.station.lookup import kind_of


class StationIncomplete(LookupError):
    """The station lacks an instrument the campaign needs."""


def instrument_of(lab: Station, driver: str) -> tuple[str, Driver]:
    """The name and driver of the station's instrument of kind ``driver``."""
    for instrument in lab.instruments.values():
        if kind_of(instrument.driver_name) == driver:
            return instrument.name, instrument.driver
    raise StationIncomplete(
        f"the station has no instrument with driver {driver}: configure one in daq.toml "
        "(or configure none at all to use the simulators)")


def settings_on_clock(settings: Settings, anchor: ClockAnchor | None, scale: float
                      ) -> tuple[Settings, ClockAnchor]:
    """Settings whose clock continues ``anchor`` (or starts now at ``scale``), and the
    anchor of that clock. Real instruments (configured) keep the configured clock."""
    now_wall = time.time()
    if not settings.simulated:
        return settings, anchor or ClockAnchor(now_wall, now_wall, settings.time_scale)
    if anchor is None:
        start = ClockAnchor(now_wall, now_wall, scale)
        return settings.model_copy(update={"time_scale": scale, "time_origin": None}), start
    sim_now = anchor.sim_at(now_wall)
    current = ClockAnchor(sim_now, now_wall, anchor.scale)
    origin = continuous_origin(sim_now, now_wall, anchor.scale)
    return settings.model_copy(update={"time_scale": anchor.scale, "time_origin": origin}), \
        current


async def resumed_clock(settings: Settings, campaign_id: str, scale: float) -> Settings:
    """``settings`` for a station started to carry out campaign ``campaign_id``: its clock
    continues the campaign's stored time line (or starts now at ``scale``), so that a
    campaign resumed by a new process never runs simulated time backwards."""
    from daq.campaign.state import get_campaign
    from daq.storage.database import create_engine, session_factory, upgrade

    engine = create_engine(settings.database_url)
    try:
        await upgrade(engine)
        row = await get_campaign(session_factory(engine), campaign_id)
    finally:
        await engine.dispose()
    anchor = None if row is None else ClockAnchor(row.clock_sim_ts, row.clock_wall_ts,
                                                  row.clock_scale)
    return settings_on_clock(settings, anchor, scale)[0]
