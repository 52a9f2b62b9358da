"""Fit and finish: every view and every run's detail, with long events, stays within the
viewport (measured) at 1280 and at 820 px; a viewer sees no control it cannot use."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, expect

from daq.messages import RunEvent
from tests.browser.conftest import LiveStation, log_in, page_width, register

pytestmark = pytest.mark.browser

LOT = "EX2-2026-010"
#: An event as long as the ones that made the page 2,999 px wide, and an unbroken word.
LONG_NOTE = {"note": "operator remark " * 120, "token": "x" * 2500,
             "values": {f"channel_{i}": i * 1.5 for i in range(60)}}


async def runs_of_every_kind(live: LiveStation) -> list[str]:
    """A press cycle, a peel test and a laser job, each DONE, the press's with long events."""
    await register(live, LOT, "EX2", [f"{LOT}-A1"])
    engine = live.lab.run_engine
    from daq.laser.params import LaserRunParams
    from daq.peel.params import PeelTestParams
    from daq.press.params import PressCycleParams

    ids = [await engine.start("press_cycle", PressCycleParams(sample_id=LOT), "operator1", "api")]
    await engine.wait(ids[0], timeout_s=120)
    ids.append(await engine.start("peel_test", PeelTestParams(specimen_id=f"{LOT}-A1"),
                                  "operator1", "api"))
    await engine.wait(ids[1], timeout_s=120)
    ids.append(await engine.start("laser_job", LaserRunParams(sample_id=LOT, n_holes=200),
                                  "operator1", "api"))
    await engine.wait(ids[2], timeout_s=120)
    for _ in range(3):
        await live.lab.recorder.event(RunEvent(ids[0], live.lab.clock.now(), "note", LONG_NOTE))
    assert await live.lab.recorder.settled(30)
    return ids


async def widest(page: Page, run_ids: list[str], where: str) -> list[tuple[str, int, int]]:
    """Visit every view and open every run's detail with its folded parts: (place, page
    width, viewport width) of each."""
    seen: list[tuple[str, int, int]] = []
    for view in ("lab", "runs", "samples", "table1"):
        await page.click(f"nav.views a[data-view={view}]")
        await expect(page.locator(f"#view-{view}")).to_be_visible()
        for details in await page.locator(f"#view-{view} details").all():
            if await details.is_visible():
                await details.evaluate("d => d.open = true")
        seen.append((f"{where} {view}", *await page_width(page)))
    await page.click("nav.views a[data-view=runs]")
    for run_id in run_ids:
        await page.click(f"#runs tbody tr[data-run='{run_id}']")
        await expect(page.locator("#run-detail")).to_have_attribute("data-run", run_id)
        for details in await page.locator("#run-detail details").all():
            await details.evaluate("d => d.open = true")
        seen.append((f"{where} {run_id.split('-')[0]} detail", *await page_width(page)))
    return seen


async def test_every_view_and_detail_with_long_events_fits_the_viewport_at_1280_and_820(
    browser: Any, live: LiveStation, screenshots: Path
) -> None:
    run_ids = await runs_of_every_kind(live)
    measured: list[tuple[str, int, int]] = []
    for width in (1280, 820):
        page = await log_in(browser, live, "operator", width=width)
        measured += await widest(page, run_ids, f"{width}px")
        await expect(page.locator("#detail-events li").first).to_be_visible()
        await page.screenshot(path=str(screenshots / f"detail-long-events-{width}.png"),
                              full_page=True)
        if width == 820:
            # Usable at 820 px: the start button and the queue's controls are on screen.
            await page.click("nav.views a[data-view=lab]")
            for control in ("#start-press_cycle", "#queue-press_cycle", "#queue-start"):
                box = await page.locator(control).bounding_box()
                assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 820
            await page.screenshot(path=str(screenshots / "lab-820.png"), full_page=True)
        await page.context.close()
    for where, page_px, viewport_px in measured:
        print(f"{where}: page {page_px} px, viewport {viewport_px} px")
    too_wide = [m for m in measured if m[1] > m[2]]
    assert not too_wide, too_wide


async def test_a_viewer_sees_everything_but_no_control_it_cannot_use(
    browser: Any, live: LiveStation, screenshots: Path
) -> None:
    run_ids = await runs_of_every_kind(live)
    page = await log_in(browser, live, "viewer")
    await expect(page.locator("#instruments tbody tr")).to_have_count(4)
    for absent in ("#work-panel", "#registration-panel", "#queue-start", "#queue-stop",
                   "#abort-run", "form.schema-form", "button[data-action]",
                   "#queue-items button"):
        assert await page.locator(absent).count() == 0, absent
    await page.click("nav.views a[data-view=samples]")
    await expect(page.locator("#panel-peel-tests tbody tr")).to_have_count(1)
    await expect(page.locator("#panel-peel-tests")).to_contain_text(" N/cm")
    await page.click("nav.views a[data-view=runs]")
    await page.click(f"#runs tbody tr[data-run='{run_ids[1]}']")
    await expect(page.locator("#peel-strength")).to_contain_text("N/cm")
    # What a viewer may do here is read and download: those buttons are all there is.
    buttons = await page.locator("#run-detail button:visible").evaluate_all(
        "bs => bs.map(b => b.id || b.textContent)")
    assert set(buttons) <= {"detail-close", "download-csv", "download-json"}, buttons
    await page.screenshot(path=str(screenshots / "viewer-run-detail.png"), full_page=True)
