"""The parts under the campaign: re-scaling the clocks without a jump, the campaign file
and its refusals, the plan of steps, the stored campaign, and the CLI's error paths."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daq.campaign.model import CampaignFileError, load_campaign, parse_campaign
from daq.campaign.plan import plan_steps
from daq.campaign.state import CampaignMismatch, ClockAnchor, open_campaign
from daq.clock import SimClock, continuous_origin
from daq.config import Settings
from daq.station.lab import Lab
from daq.storage.database import create_engine, session_factory, upgrade
from simulators.clock import Clock
from tests.campaign.conftest import TABLE1, daq_env, run_daq

SCALES = st.floats(min_value=2.0, max_value=1e6, allow_nan=False)


@given(sim_now=st.floats(min_value=1.6e9, max_value=2.2e9), lead=st.floats(0, 1e8),
       scale=SCALES)
def test_continuous_origin_reproduces_the_simulated_time(
    sim_now: float, lead: float, scale: float
) -> None:
    wall = sim_now
    sim = sim_now + lead
    origin = continuous_origin(sim, wall, scale)
    assert origin + (wall - origin) * scale == pytest.approx(sim, abs=1e-6 * scale + 1e-3)


@settings(max_examples=25, deadline=None)
@given(scales=st.lists(SCALES, min_size=1, max_size=6))
def test_rescaled_clocks_never_jump_and_stay_in_step(scales: list[float]) -> None:
    c0 = time.monotonic()
    service = SimClock(1000.0)
    simulator = Clock(1000.0, service.origin)
    # Each clock pairs the wall and monotonic clocks when it is made; the pairs differ by
    # at most the real time the two constructions took.
    construction_s = time.monotonic() - c0
    previous = service.scale
    for scale in scales:
        t0 = time.monotonic()
        before = service.now()
        service.set_scale(scale)
        simulator.set_scale(service.scale, service.origin)
        after = service.now()
        elapsed_real = time.monotonic() - t0
        # No jump: only the real time that passed (measured around it), at either scale.
        # Epoch seconds as floats resolve ~2.4e-7 s of wall time, i.e. that times the scale
        # of simulated time (0.024 s at 100 000×): the grain of any reading.
        fastest = max(scale, previous)
        grain = 1e-6 * fastest
        assert -grain <= after - before <= elapsed_real * fastest + grain + 1e-3
        # One formula, one origin, one scale: the two clocks agree, up to the real time
        # between the two readings (measured) and between their wall/monotonic pairings,
        # times the scale, plus the grain.
        assert (simulator.origin, simulator.scale) == (service.origin, service.scale)
        t0 = time.monotonic()
        apart = simulator.now() - service.now()
        between_s = time.monotonic() - t0
        assert abs(apart) <= (between_s + construction_s) * scale + 1e-6 * scale + 1e-3
        assert service.env()["DAQ_TIME_SCALE"] == repr(scale)
        previous = scale


def test_scale_one_is_refused_once_simulated_time_is_ahead() -> None:
    clock = SimClock(1000.0, origin=time.time() - 10)
    with pytest.raises(ValueError, match="scale 1"):
        clock.set_scale(1.0)


def test_lab_rescales_its_clock_and_its_simulators_together() -> None:
    c0 = time.monotonic()
    lab = Lab(Settings(time_scale=1200.0))
    lab.simulator_clock = Clock(lab.clock.scale, lab.clock.origin)
    construction_s = time.monotonic() - c0  # bounds how far the two clocks' pairings differ
    lab.set_time_scale(100_000.0)
    assert lab.simulator_clock.scale == lab.clock.scale == 100_000.0
    assert lab.simulator_clock.origin == lab.clock.origin
    # Agree up to the real time between the readings and the pairings, times the scale,
    # plus the grain of float epoch seconds at 100 000× (~0.1 s).
    t0 = time.monotonic()
    apart = lab.simulator_clock.now() - lab.clock.now()
    between_s = time.monotonic() - t0
    assert abs(apart) <= (between_s + construction_s) * 100_000 + 1e-6 * 100_000


def test_the_table1_file_lists_all_ten_rows_with_material_prefixed_lots() -> None:
    campaign, sha = load_campaign(TABLE1)
    assert len(sha) == 64
    assert [s.material_key for s in campaign.samples] == [
        "EX1", "EX2", "EX3", "EX4", "EX5", "CMP1", "CMP2", "CMP3", "CMP4", "CMP5"]
    assert all(s.lot.startswith(s.material_key + "-") for s in campaign.samples)
    no_film = [s.material_key for s in campaign.samples if not s.film_forms]
    assert no_film == ["CMP2", "CMP3"]
    assert all(s.expected.no_film for s in campaign.samples if not s.film_forms)
    assert (campaign.press.temperature_c, campaign.press.pressure_mpa,
            campaign.press.dwell_min) == (200.0, 3.0, 20.0)
    assert (campaign.aging.setpoint_c, campaign.aging.hours) == (150.0, 1000.0)
    assert campaign.laser.holes == 500 and campaign.peel.specimens_per_condition == 3


def test_the_plan_presses_peels_ages_once_and_drills_each_film_sample() -> None:
    campaign, _ = load_campaign(TABLE1)
    steps = plan_steps(campaign)
    kinds = [s.kind for s in steps]
    assert kinds.count("press") == 8 and kinds.count("laser") == 8
    assert kinds.count("peel") == 8 * 3 * 2
    assert kinds.count("aging") == 1 and kinds.count("pullout") == 1
    assert kinds.index("aging") > max(i for i, k in enumerate(kinds) if k == "press")
    assert len({s.key for s in steps}) == len(steps)
    assert not any(s.sample_id and s.sample_id.startswith(("CMP2", "CMP3")) for s in steps)


BASE = {"campaign": {"id": "c1"},
        "samples": [{"lot": "EX1-1", "material": "EX1", "adhesive_thickness_um": 5}]}


@pytest.mark.parametrize(("change", "words"), [
    ({"samples": [{"lot": "X-1", "material": "NOPE", "adhesive_thickness_um": 5}]},
     "unknown material 'NOPE'"),
    ({"samples": [{"lot": "EX1-1", "material": "EX1", "adhesive_thickness_um": 5}] * 2},
     "lot listed twice: EX1-1"),
    ({"time": {"aging_scale": 1.0}}, "time.aging_scale"),
    ({"peel": {"specimens_per_condition": 0}}, "peel.specimens_per_condition"),
    ({"laser": {"holse": 5}}, "laser.holse"),
    ({"samples": []}, "samples"),
    ({"press": {"temperature_c": 250.0}}, "temperature 250 °C is outside the allowed window"),
    ({"press": {"dwel_min": 20.0}}, "unknown recipe field 'dwel_min'"),
    ({"laser": {"power_w": 9.0}}, "power_w = 9.0 is not allowed"),
    ({"peel": {"width_mm": 0.1}}, "width_mm must be"),
])
def test_a_bad_campaign_file_is_refused_naming_the_field(change: dict[str, object],
                                                         words: str) -> None:
    with pytest.raises(CampaignFileError, match=words.replace(".", r"\.")):
        parse_campaign({**BASE, **change})


def test_a_file_that_is_not_toml_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[campaign\nid = ", encoding="utf-8")
    with pytest.raises(CampaignFileError, match="not valid TOML"):
        load_campaign(bad)


async def test_the_same_id_planned_from_another_file_is_refused(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'c.db'}")
    try:
        await upgrade(engine)
        sessions = session_factory(engine)
        anchor = ClockAnchor(1.8e9, 1.8e9, 1000.0)
        first = parse_campaign(BASE)
        _, created = await open_campaign(sessions, first, "a" * 64, "one.toml", anchor)
        assert created
        _, created = await open_campaign(sessions, first, "a" * 64, "one.toml", anchor)
        assert not created  # the same plan again: resumed, not re-created
        other = parse_campaign({**BASE, "peel": {"specimens_per_condition": 2}})
        with pytest.raises(CampaignMismatch, match="other steps"):
            await open_campaign(sessions, other, "b" * 64, "two.toml", anchor)
    finally:
        await engine.dispose()


async def test_cli_refuses_bad_input_in_one_line_without_traceback(tmp_path: Path) -> None:
    env = daq_env(f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    bad = tmp_path / "bad.toml"
    bad.write_text('[campaign]\nid = "x"\n[[samples]]\nlot = "A-1"\nmaterial = "EX9"\n'
                   "adhesive_thickness_um = 5\n", encoding="utf-8")
    code, _, err = await run_daq("campaign", "run", str(bad), env=env)
    assert code == 2 and "unknown material 'EX9'" in err and "Traceback" not in err
    code, _, err = await run_daq("campaign", "status", str(TABLE1), env=env)
    assert code == 2 and "has not been run yet" in err and "Traceback" not in err
    # A configured station (real instruments) without a peel tester, oven or laser.
    config = tmp_path / "daq.toml"
    config.write_text('[instruments.press1]\ndriver = "lamination_press"\n'
                      'resource = "TCPIP::127.0.0.1::1::SOCKET"\n', encoding="utf-8")
    code, _, err = await run_daq("campaign", "run", str(TABLE1), "--config", str(config),
                                 env=env)
    assert code == 2 and "no instrument with driver" in err and "Traceback" not in err
    code, _, err = await run_daq("report", "no-such-campaign", "--out",
                                 str(tmp_path / "r"), env=env)
    assert code == 2 and "no campaign 'no-such-campaign'" in err and "Traceback" not in err
