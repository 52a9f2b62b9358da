"""Starting every kind of work from the dashboard: forms built from the kinds' schemas,
registration of lots and specimens, and the queue (add, reorder, remove, start)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import LiveStation, log_in

pytestmark = pytest.mark.browser

LOT = "EX1-2026-001"
SPECIMEN = "EX1-2026-001-A1"


async def register_lot_and_specimen(page: Page) -> None:
    await page.click("nav.views a[data-view=samples]")
    await page.fill("#f-reg-sample-id", LOT)
    await page.select_option("#f-reg-sample-material_key", "EX1")
    await page.click("#register-sample")
    await expect(page.locator("#reg-sample-error")).to_have_text(f"Registered sample {LOT}")
    await page.fill("#f-reg-specimen-id", SPECIMEN)
    await page.select_option("#f-reg-specimen-sample_id", LOT)
    await page.click("#register-specimen")
    await expect(page.locator("#reg-specimen-error")).to_have_text(
        f"Registered specimen {SPECIMEN}")
    await page.click("nav.views a[data-view=lab]")


async def queued_kinds(page: Page) -> list[str]:
    return [k or "" for k in await page.locator("#queue-items tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.kind)")]


async def test_forms_come_from_the_kinds_schemas_and_a_refusal_names_the_field(
    browser: Any, live: LiveStation, screenshots: Path
) -> None:
    page = await log_in(browser, live, "operator")
    tabs = await page.locator("#work-forms .tab").all_text_contents()
    assert tabs == ["press cycle", "peel test", "aging run", "laser job", "campaign"]
    # The limits shown are the station's (the laser's own range, the peel width's).
    await page.click("#tab-laser_job")
    await expect(page.locator("label[for=f-laser_job-n_holes] .range")).to_have_text(
        "allowed 1–100000")
    await expect(page.locator("label[for=f-laser_job-wavelength_nm] .range")).to_have_text(
        "fixed 355 nm")
    await page.click("#tab-peel_test")
    await expect(page.locator("label[for=f-peel_test-width_mm] .range")).to_have_text(
        "allowed 0.5–25 mm")
    # No specimen on record: the station refuses, naming the field, and nothing runs.
    await page.fill("#f-peel_test-width_mm", "30")
    await page.click("#start-peel_test")
    await expect(page.locator("#err-peel_test-width_mm")).to_contain_text("25")
    await expect(page.locator("#peel_test-error")).to_contain_text("Refused")
    await page.screenshot(path=str(screenshots / "form-field-error.png"), full_page=True)
    assert live.lab.active_runs() == []


async def test_operator_registers_a_lot_queues_three_kinds_reorders_and_the_queue_runs_them(
    browser: Any, live: LiveStation, screenshots: Path
) -> None:
    page = await log_in(browser, live, "operator")
    await register_lot_and_specimen(page)

    await page.select_option("#f-press_cycle-sample_id", LOT)
    await page.click("#queue-press_cycle")
    await expect(page.locator("#press_cycle-error")).to_contain_text("Queued press cycle")
    await page.click("#tab-laser_job")
    await page.select_option("#f-laser_job-sample_id", LOT)
    await page.fill("#f-laser_job-n_holes", "200")
    await page.click("#queue-laser_job")
    await expect(page.locator("#laser_job-error")).to_contain_text("Queued laser job")
    await page.click("#tab-peel_test")
    await page.select_option("#f-peel_test-specimen_id", SPECIMEN)
    await page.click("#queue-peel_test")
    await expect(page.locator("#peel_test-error")).to_contain_text("Queued peel test")
    # One more laser job, to be removed again.
    await page.click("#tab-laser_job")
    await page.click("#queue-laser_job")
    await expect(page.locator("#queue-items tbody tr")).to_have_count(4)
    assert await queued_kinds(page) == ["press_cycle", "laser_job", "peel_test", "laser_job"]

    await page.locator("#queue-items tbody tr").nth(3).locator("button[aria-label=remove]").click()
    await expect(page.locator("#queue-items tbody tr")).to_have_count(3)
    # The peel before the laser job: press, peel, laser.
    rows = page.locator("#queue-items tbody tr")
    await rows.nth(2).locator("button[aria-label='move up']").click()
    await expect(page.locator("#queue-items tbody tr").nth(1)).to_have_attribute(
        "data-kind", "peel_test")
    assert await queued_kinds(page) == ["press_cycle", "peel_test", "laser_job"]
    await page.screenshot(path=str(screenshots / "queue-ready.png"), full_page=True)

    # A viewer's dashboard, open beside it, follows the queue live (it never reloads).
    watcher = await log_in(browser, live, "viewer")
    await expect(watcher.locator("#queue-items tbody tr")).to_have_count(3)
    await page.click("#queue-start")
    await expect(watcher.locator("#queue-panel")).to_have_attribute("data-state", "running")
    await expect(page.locator("#live-phase")).to_have_text("DWELL", timeout=60_000)
    await expect(page.locator("#queue-history li")).to_have_count(3, timeout=120_000)
    states = await page.locator("#queue-history li").evaluate_all(
        "items => items.map(i => i.dataset.state)")
    assert states == ["done", "done", "done"], states
    # The queue stops once its last item has ended (a change of its own, after the
    # history's): the stream brings it to both dashboards.
    await expect(page.locator("#queue-panel")).to_have_attribute("data-state", "stopped")
    await expect(watcher.locator("#queue-panel")).to_have_attribute("data-state", "stopped")
    await expect(watcher.locator("#queue-history li")).to_have_count(3)
    await page.screenshot(path=str(screenshots / "queue-done.png"), full_page=True)

    snap = live.lab.run_queue.snapshot()
    assert [i.kind for i in snap.history] == ["press_cycle", "peel_test", "laser_job"]
    assert all(i.outcome is not None and i.outcome.value == "DONE" for i in snap.history)

    # Each finished item opens its run's own view, with its result.
    press_run, peel_run, laser_run = (i.run_id for i in snap.history)
    await page.locator("#queue-panel details").evaluate("d => d.open = true")
    for run_id, result, expected in (
        (press_run, "#detail-dwell", re.compile(r"dwell achieved: 2\d\.\d min")),
        (peel_run, "#peel-strength", "N/cm"),
        (laser_run, "#laser-grade", ""),
    ):
        await page.click("nav.views a[data-view=lab]")
        await page.click(f"#queue-history li button[data-run-link='{run_id}']")
        await expect(page.locator("#run-detail")).to_have_attribute("data-run", run_id or "")
        await expect(page.locator(result)).to_contain_text(expected)
    async with live.lab.sessions() as session:
        from daq.storage.laser_models import LaserJobRow

        job = await session.get(LaserJobRow, laser_run)
    assert job is not None and job.grade is not None
    await expect(page.locator("#laser-grade")).to_have_text(job.grade)
    await page.screenshot(path=str(screenshots / "queue-laser-view.png"), full_page=True)
