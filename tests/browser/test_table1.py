"""The Table 1 page: the shipped campaign, started on the station, followed live, and at
its end all 10 rows as its report has them, each mean beside the patent's value with
pass/fail, every number linking to its run and specimen. The campaign it runs (SQLite,
the embedded broker) is also checked as the campaign test checks its PostgreSQL one:
Table 1 reproduced, the aging run's oven log, and `daq report` opened in chromium."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from daq.campaign.model import load_campaign
from daq.report.data import load_report_data
from tests.browser.conftest import LiveStation, log_in
from tests.campaign.conftest import daq_env, faster_campaign, run_daq
from tests.campaign.table1_checks import check_report_in_chromium, check_table1

pytestmark = pytest.mark.browser


def n2(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


async def test_table1_page_follows_the_shipped_campaign_and_matches_its_report(
    browser: Any, live: LiveStation, screenshots: Path, tmp_path: Path
) -> None:
    # The station offers the campaign files in its campaigns_dir; the operator picks the
    # shipped one (on the faster clocks) and starts it from the campaign form.
    folder = live.lab.settings.campaigns_dir
    folder.mkdir(parents=True, exist_ok=True)
    campaign, _ = load_campaign(faster_campaign(folder))
    (folder / "broken.toml").write_text("[campaign]\nid = 'x'\n")  # no samples: refused
    # A viewer watches the Table 1 page from before the campaign exists.
    page = await log_in(browser, live, "viewer")
    await page.click("nav.views a[data-view=table1]")
    await expect(page.locator("#view-table1")).to_contain_text("No campaigns yet")
    operator = await log_in(browser, live, "operator")
    await operator.click("#tab-campaign")
    await expect(operator.locator("#campaign-file")).to_have_value("table1.toml")
    await expect(operator.locator("#campaign-file-note")).to_contain_text(
        f"campaign {campaign.id}, 10 lots")
    await expect(operator.locator(".campaign-files .error")).to_contain_text("broken.toml")
    await operator.click("#start-campaign")
    await expect(operator.locator("#campaign-error")).to_contain_text("Started")
    run_id = ((await operator.text_content("#campaign-error")) or "").removeprefix(
        "Started ").strip()
    await operator.screenshot(path=str(screenshots / "campaign-form.png"), full_page=True)
    # Its page is done: left open, it would redraw its lists on each of the campaign's 67
    # steps beside the viewer's, and slow the station for nothing.
    await operator.context.close()

    # The viewer's page picks the new campaign up by itself (no reload).
    body = page.locator("#table1-body")
    await expect(body).to_have_attribute("data-rows", "10")
    # Live: the steps done count up while the campaign runs.
    await expect(page.locator("#table1-progress")).to_contain_text(
        re.compile(r"RUNNING · [1-9]\d* of \d+ steps done"), timeout=120_000)
    await page.screenshot(path=str(screenshots / "table1-running.png"), full_page=True)
    outcome = await live.lab.run_engine.wait(run_id, timeout_s=540)
    assert outcome.value == "DONE"
    await expect(body).to_have_attribute("data-status", "DONE", timeout=30_000)
    await page.screenshot(path=str(screenshots / "table1-done.png"), full_page=True)

    data = await load_report_data(live.lab.sessions, campaign.id, with_traces=True)
    assert len(data.table) == 10
    check_table1(data, campaign)
    for row in data.table:
        tr = page.locator(f"#table1-table tbody tr[data-lot='{row.lot}']")
        if row.no_film:
            await expect(tr.locator("td[data-col=as_made]")).to_contain_text("no film")
            continue
        for col, cond, patent in (("as_made", row.as_made, row.expected_as_made),
                                  ("aged", row.aged, row.expected_aged)):
            cell = tr.locator(f"td[data-col={col}]")
            await expect(cell.locator(".mean")).to_have_text(n2(cond.mean))
            specimens = await cell.locator("button[data-specimen]").evaluate_all(
                "bs => bs.map(b => [b.dataset.specimen, b.dataset.run])")
            assert specimens == [[p.specimen_id, p.run_id] for p in cond.peels], row.lot
            assert cond.mean is not None and patent is not None
            passed = abs(cond.mean - patent) <= 0.5  # the report's agreement, ±0.5 N/cm
            verdict = cell.locator("xpath=following-sibling::td[3]/span")
            await expect(verdict).to_have_attribute("data-pass", str(passed).lower())
        grade = tr.locator("td[data-col=grade]")
        await expect(grade.locator("button")).to_have_text(row.laser_grade or "—")
        assert await grade.locator("button").get_attribute("data-run") == row.laser_run_id
    # Every film sample agrees with the patent, as the campaign's own acceptance says.
    verdicts = await page.locator("#table1-table .verdict").evaluate_all(
        "vs => vs.map(v => v.dataset.pass)")
    assert verdicts and set(verdicts) == {"true"}, verdicts

    # A specimen's value opens its run.
    first = data.table[0].as_made.peels[0]
    await page.click(f"#table1-table button[data-specimen='{first.specimen_id}']")
    await expect(page.locator("#run-detail")).to_have_attribute("data-run", first.run_id)

    # Its report, written by `daq report` from the station's database, opens in chromium
    # with the same table.
    out_dir = tmp_path / "report"
    code, _, err = await run_daq("report", str(folder / "table1.toml"), "--out", str(out_dir),
                                 env=daq_env(live.lab.settings.database_url))
    assert code == 0, err
    await check_report_in_chromium(browser, out_dir / "index.html", campaign, "sqlite")
