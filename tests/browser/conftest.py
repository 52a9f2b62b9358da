"""Chromium (Debian's, never downloaded) driven by Playwright against a real station."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Page, expect

from daq.api import create_app
from daq.station.lab import Lab
from tests.api.conftest import add_users, station_settings
from tests.api.server import serve
from tests.conftest import REQUIRE_SERVICES

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-gpu"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"

# An expectation waits for what it means (a row, a state, a text); its timeout is only a
# hang guard. Playwright's 5 s default is a real-time margin that a loaded machine (CI
# beside other work, stress-ng) overran: a run's detail took longer than that to draw.
expect.set_options(timeout=30_000)


def need_chromium() -> Path:
    """Debian's chromium; installed with apt-get when missing and we may (root)."""
    if not CHROMIUM.exists() and os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "chromium"],
            check=False,
            capture_output=True,
            timeout=600,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing (apt-get install chromium; scripts/services does it)"
        if REQUIRE_SERVICES:
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


@dataclass
class LiveStation:
    """A station served by uvicorn, its users' passwords and tokens."""

    lab: Lab
    app: Any
    base_url: str
    passwords: dict[str, str]
    tokens: dict[str, str]


@pytest_asyncio.fixture
async def browser() -> AsyncIterator[Any]:
    path = need_chromium()
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=str(path), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


@asynccontextmanager
async def live_station(tmp_path: Path, scale: float) -> AsyncIterator[LiveStation]:
    """A station at ``scale`` served over HTTP, with a user of each role."""
    async with Lab(station_settings(tmp_path, scale=scale)) as lab:
        tokens, passwords = await add_users(lab)
        app = create_app(lab)
        async with serve(app) as base:
            yield LiveStation(lab, app, base, passwords, tokens)


@pytest_asyncio.fixture
async def live(tmp_path: Path) -> AsyncIterator[LiveStation]:
    async with live_station(tmp_path, 600.0) as station:
        yield station


@pytest_asyncio.fixture
async def live60(tmp_path: Path) -> AsyncIterator[LiveStation]:
    """A station at 60×: a 5-minute dwell takes 5 s, long enough to watch it count."""
    async with live_station(tmp_path, 60.0) as station:
        yield station


@pytest.fixture
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


async def log_in(browser: Any, live: LiveStation, role: str, width: int = 1280) -> Page:
    """A new page logged in as ``<role>1`` with the live stream connected."""
    context = await browser.new_context(
        accept_downloads=True, viewport={"width": width, "height": 1000}
    )
    page: Page = await context.new_page()
    page.on("console", lambda m: print(f"[browser {m.type}] {m.text}"))
    page.on("pageerror", lambda e: print(f"[browser pageerror] {e}"))
    await page.goto(live.base_url + "/")
    await page.fill("#login-user", f"{role}1")
    await page.fill("#login-password", live.passwords[role])
    await page.click("#login-form button[type=submit]")
    await expect(page.locator("#who-role")).to_have_text(role)
    await expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    return page


async def page_width(page: Page) -> tuple[int, int]:
    """How wide the page is (the document's scroll width, or the right edge of the
    furthest element not inside a scrolling box, whichever is more) and the viewport's
    width, in CSS pixels. Nothing clips the page itself (no overflow: hidden on it)."""
    width, viewport = await page.evaluate("""() => {
        const clipped = (el) => {
            for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
                const o = getComputedStyle(p).overflowX;
                if (o === "auto" || o === "scroll" || o === "hidden") return true;
            }
            return false;
        };
        let right = document.documentElement.scrollWidth;
        for (const el of document.body.querySelectorAll("*")) {
            if (!el.offsetParent || clipped(el)) continue;
            right = Math.max(right, Math.ceil(el.getBoundingClientRect().right));
        }
        return [right, window.innerWidth];
    }""")
    return int(width), int(viewport)


async def download_of_run(page: Page, live: LiveStation, run_id: str, button: str
                          ) -> tuple[str, str]:
    """Open ``run_id`` in the run browser, click its download ``button``: (file name,
    text). The readings are flushed first, so the file holds all that were taken."""
    await page.click(f"#runs tbody tr[data-run='{run_id}']")
    await expect(page.locator("#detail-id")).to_have_text(run_id)
    await live.lab.writer.flush()
    async with page.expect_download() as info:
        await page.click(button)
    download = await info.value
    text = await asyncio.to_thread(Path(await download.path()).read_text)
    return download.suggested_filename, text


async def stored_readings(live: LiveStation, run_id: str) -> int:
    """How many readings of ``run_id`` the database holds."""
    from sqlalchemy import func, select

    from daq.storage.models import ReadingRow

    async with live.lab.sessions() as session:
        return int(await session.scalar(
            select(func.count()).select_from(ReadingRow).where(ReadingRow.run_id == run_id))
            or 0)


async def register(live: LiveStation, lot: str, material: str, specimens: list[str]) -> None:
    """Register a lot and its specimens through the API (as an operator)."""
    import httpx

    headers = {"Authorization": f"Bearer {live.tokens['operator']}"}
    async with httpx.AsyncClient(base_url=live.base_url, headers=headers) as client:
        resp = await client.post("/api/samples", json={"id": lot, "material_key": material})
        assert resp.status_code == 201, resp.text
        for sid in specimens:
            resp = await client.post("/api/specimens", json={"id": sid, "sample_id": lot})
            assert resp.status_code == 201, resp.text
