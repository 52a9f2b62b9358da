"""Alarms and the instruments' real state in the dashboard: a press tripped by its door
shows SAFE with the cause on its row and raises an alarm; the operator acknowledges it,
resets the press from its row (confirmation; refused while the door is open) and the
next cycle runs. A viewer's dashboard open beside it follows each change live."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from tests.browser.conftest import LiveStation, log_in

pytestmark = pytest.mark.browser


async def test_a_door_trip_shows_safe_with_its_cause_and_the_operator_acks_resets_and_runs(
    browser: Any, live: LiveStation, screenshots: Path
) -> None:
    page = await log_in(browser, live, "operator")
    press = live.lab.simulators.instruments["press"]
    row = page.locator("#instruments tbody tr[data-instrument=press1]")
    await expect(row).to_have_attribute("data-state", "online")
    # A slow ramp keeps the press heating while its door is opened.
    await page.fill("#f-press_cycle-ramp_rate_c_per_min", "2")
    await page.click("#start-press_cycle")
    await expect(page.locator("#live-phase")).to_have_text("HEAT", timeout=15_000)
    press.inject("door", "open")
    await expect(page.locator("#live-status")).to_have_text("FAULTED", timeout=15_000)

    await expect(row).to_have_attribute("data-state", "safe")
    await expect(row.locator(".cause")).to_contain_text("door")
    alarm = page.locator("#alarm-list tbody tr[data-source=press1]").first
    await expect(alarm).to_have_attribute("data-state", "UNACK")
    alarm_id = await alarm.get_attribute("data-alarm")
    await expect(page.locator("#alarms")).to_contain_text("1 to acknowledge")
    await page.screenshot(path=str(screenshots / "press-safe-alarm.png"), full_page=True)

    watcher = await log_in(browser, live, "viewer")
    watched = watcher.locator(f"#alarm-list tbody tr[data-alarm='{alarm_id}']")
    await expect(watched).to_have_attribute("data-state", "UNACK")
    await alarm.locator("button[data-action=ack]").click()
    acked = page.locator(f"#alarm-list tbody tr[data-alarm='{alarm_id}']")
    await expect(acked).to_have_attribute("data-state", "ACKED")
    await expect(acked).to_contain_text("acknowledged by operator1")
    # The viewer did nothing: the stream told its dashboard (no reload).
    await expect(watched).to_have_attribute("data-state", "ACKED")
    await expect(watched).to_contain_text("acknowledged by operator1")

    # The door is still open: the reset is refused, saying so, and the press stays SAFE.
    await row.locator("button[data-action=reset]").click()
    await expect(page.locator("#confirm-reset")).to_be_visible()
    await expect(page.locator("#reset-cause")).to_contain_text("door")
    await page.click("#reset-yes")
    await expect(page.locator("#instruments-error")).to_contain_text("door of press1 is open")
    await expect(row).to_have_attribute("data-state", "safe")
    press.inject("door", "closed")
    await row.locator("button[data-action=reset]").click()
    await page.click("#reset-yes")
    await expect(page.locator("#instruments-error")).to_contain_text("press1 reset: IDLE")
    await expect(row).to_have_attribute("data-state", "online")
    assert await row.locator("button[data-action=reset]").count() == 0
    await page.select_option("#alarms-filter", "all")
    cleared = page.locator(f"#alarm-list tbody tr[data-alarm='{alarm_id}']")
    await expect(cleared).to_have_attribute("data-state", "NORMAL")
    await expect(cleared).to_contain_text("reset by operator1")
    await page.screenshot(path=str(screenshots / "press-reset.png"), full_page=True)

    # The next cycle runs to its end.
    await page.fill("#f-press_cycle-ramp_rate_c_per_min", "10")
    await page.click("#start-press_cycle")
    await expect(page.locator("#live-status")).to_have_text("RUNNING", timeout=15_000)
    await expect(page.locator("#live-status")).to_have_text("DONE", timeout=60_000)

