"""Acceptance: simulated specimens of every Table 1 material reproduce the patent's peel
strengths (mean of 3 within ±0.5 N/cm), as made and after 150 °C × 1000 h; the
materials that form no film cannot be made into specimens."""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest

from daq.bus import Bus
from daq.materials import CATALOGUE, material_info
from daq.peel.procedure import PeelTest
from daq.peel.store import NoFilm, PeelStore
from daq.storage.recorder import DbRecorder
from simulators.materials import MATERIALS, peel_strength_n_per_cm
from tests.peel.conftest import Bench
from tests.peel.test_procedure import make_specimen

FILM_FORMING = [k for k, m in CATALOGUE.items() if m.film_forms]


@pytest.fixture
def peel_db_url(tmp_path: Path) -> str:
    """The sweep runs on SQLite only (PostgreSQL storage is covered by the other tests)."""
    return f"sqlite+aiosqlite:///{tmp_path}/table1.db"


@pytest.mark.parametrize("aging_hours", [0.0, 1000.0])
async def test_every_material_of_table_1_peels_as_the_patent_says(
    bench: Bench, recorder: DbRecorder, bus: Bus, store: PeelStore, aging_hours: float
) -> None:
    table: dict[str, float] = {}
    for key in FILM_FORMING:
        values = []
        for n in (1, 2, 3):
            specimen_id = f"{key}-2026-{int(aging_hours):04d}-S{n}"
            await make_specimen(store, bench, specimen_id, key, aging_hours)
            procedure = PeelTest(bench.tester, bench.clock, recorder, bus, store)
            outcome = await procedure.run(specimen_id)
            assert outcome.status == "DONE", outcome.reason
            assert outcome.result is not None
            values.append(outcome.result.peel_strength_n_per_cm)
        table[key] = statistics.fmean(values)
    for key, measured in table.items():
        expected = peel_strength_n_per_cm(MATERIALS[key], aging_hours)
        assert expected is not None
        print(f"{key} {aging_hours:g} h: {measured:.2f} N/cm (Table 1: {expected:g})")
        assert abs(measured - expected) <= 0.5, (key, aging_hours, measured, expected)


@pytest.mark.parametrize("key", ["CMP2", "CMP3"])
async def test_no_film_materials_cannot_be_made_into_specimens(
    bench: Bench, store: PeelStore, key: str
) -> None:
    info = material_info(key)
    with pytest.raises(NoFilm, match="no film: polyimide insoluble"):
        await store.ensure_specimen(
            f"{key}-2026-001-A1", sample_id=f"{key}-2026-001", material_key=key,
            material_name=info.name, adhesive_thickness_um=info.adhesive_thickness_um,
            film_forms=info.film_forms, note=info.note, now_ts=bench.clock.now(),
        )
    assert await store.specimen_context(f"{key}-2026-001-A1") is None
