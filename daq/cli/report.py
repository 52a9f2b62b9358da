"""`daq report CAMPAIGN [--out DIR]`: the campaign's HTML report and the CSVs of its tables.

CAMPAIGN is the campaign file (its id is read from it) or the campaign id itself. The
report is built from the database alone: the figures are drawn from stored readings and
curves, and the patent's values are those the campaign carried.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from daq.config import load_settings

_out = Console(highlight=False)
_err = Console(stderr=True, highlight=False)


def _campaign_id(campaign: str) -> str:
    from daq.campaign.model import load_campaign

    path = Path(campaign)
    if path.suffix == ".toml" or path.is_file():
        return load_campaign(path)[0].id
    return campaign


async def _build(url: str, campaign_id: str, out: Path) -> Path:
    from daq.report.data import load_report_data
    from daq.report.html import write_report
    from daq.storage.database import create_engine, session_factory, upgrade

    engine = create_engine(url)
    try:
        await upgrade(engine)
        data = await load_report_data(session_factory(engine), campaign_id)
    finally:
        await engine.dispose()
    return await asyncio.to_thread(write_report, data, out)


def report(
    campaign: Annotated[str, typer.Argument(help="campaign file (TOML) or campaign id")],
    out: Annotated[Path, typer.Option("--out", help="directory to write into")] = Path("report"),
    config: Annotated[Path | None, typer.Option("--config", help="daq.toml")] = None,
    url: Annotated[str | None, typer.Option("--url", help="database URL")] = None,
) -> None:
    """Write the campaign's HTML report (Table 1 reproduced, figures, CSVs)."""
    from daq.campaign.model import CampaignFileError
    from daq.campaign.state import UnknownCampaign

    try:
        settings = load_settings(config, database_url=url)
        index: Any = asyncio.run(_build(settings.database_url, _campaign_id(campaign), out))
    except (CampaignFileError, UnknownCampaign) as exc:
        _err.print(f"[bold red]error:[/] {exc.args[0] if exc.args else exc}", soft_wrap=True)
        raise typer.Exit(2) from None
    except Exception as exc:
        if os.environ.get("DAQ_DEBUG") == "1":
            raise
        _err.print(f"[bold red]error:[/] {type(exc).__name__}: {exc}", soft_wrap=True)
        raise typer.Exit(1) from None
    _out.print(f"report written: {index}")


def register(app: typer.Typer) -> None:
    """Add ``daq report`` to the command line."""
    app.command("report")(report)
