"""The registry of the kinds of run a station starts (press cycle, peel test, aging run,
laser job, campaign). Each kind lives beside its procedure in its own package."""

from __future__ import annotations

from daq.station.procedures import Kind


def default_kinds() -> dict[str, Kind]:
    """Every kind of run, by name (imported here, when the engine first needs them, so
    that the station's modules never import one another in a circle)."""
    from daq.aging.kind import AGING_RUN
    from daq.campaign.kind import CAMPAIGN
    from daq.laser.kind import LASER_JOB
    from daq.peel.kind import PEEL_TEST
    from daq.press.kind import PRESS_CYCLE

    kinds: list[Kind] = [PRESS_CYCLE, PEEL_TEST, AGING_RUN, LASER_JOB, CAMPAIGN]
    return {kind.name: kind for kind in kinds}
