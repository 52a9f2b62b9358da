"""GET /api/runs: newest first by wall-clock start (not by the simulated stamp), with
station, search and ``before`` (keyset paging) filters."""

from __future__ import annotations

from daq.storage.models import Run
from tests.api.conftest import Station

WALL = 1_800_000_000.0
#: (id, station, simulated start, wall-clock start, operator, reason): the simulated
#: stamps of lab2 (a campaign) run weeks ahead of lab1's.
ROWS = [
    ("press-old", "lab1", 1_000.0, WALL + 10, "ann", None),
    ("campaign-a", "lab2", 4_000_000.0, WALL + 20, "campaign", None),
    ("peel_test-b", "lab2", 4_000_100.0, WALL + 30, "campaign", "tester 50%_done"),
    ("press-new", "lab1", 2_000.0, WALL + 40, "bob", None),
    ("laser-legacy", "lab1", 9_000_000.0, None, "ann", None),  # stored before started_wall
]


async def _store(station: Station) -> None:
    async with station.lab.sessions() as session:
        for rid, st, ts, wall, who, reason in ROWS:
            session.add(Run(id=rid, kind=rid.split("-")[0].replace("press", "press_cycle"),
                            instrument="x", status="DONE", recipe={}, summary={},
                            operator=who, station=st, started_ts=ts, started_wall=wall,
                            reason=reason, readings_stored=0))
        await session.commit()


async def _ids(station: Station, query: str) -> list[str]:
    async with station.client("viewer") as client:
        resp = await client.get(f"/api/runs?{query}")
    assert resp.status_code == 200, resp.text
    return [r["id"] for r in resp.json()["items"]]


async def test_runs_are_newest_first_by_wall_clock_and_filter_by_station_search_and_before(
    station: Station,
) -> None:
    await _store(station)
    assert await _ids(station, "") == [
        "press-new", "peel_test-b", "campaign-a", "press-old", "laser-legacy"]
    assert await _ids(station, "station=lab2") == ["peel_test-b", "campaign-a"]
    assert await _ids(station, "q=BOB") == ["press-new"]
    assert await _ids(station, "q=press-") == ["press-new", "press-old"]
    # % and _ are searched for as themselves, not as LIKE wildcards.
    assert await _ids(station, "q=50%25_") == ["peel_test-b"]
    assert await _ids(station, "q=%25") == ["peel_test-b"]
    assert await _ids(station, "q=a_n") == []
    # The next page after a run: those that started before it on the wall clock.
    assert await _ids(station, f"before={WALL + 30}&limit=1") == ["campaign-a"]
    async with station.client("viewer") as client:
        first = (await client.get("/api/runs?limit=1")).json()["items"][0]
    assert first["id"] == "press-new" and first["started_wall"] == WALL + 40
