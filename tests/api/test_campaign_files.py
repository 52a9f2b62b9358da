"""The campaign files a station offers its dashboard (``GET /api/campaigns/files``): each
``*.toml`` in its ``campaigns_dir`` parsed as ``daq campaign run`` reads it, or listed
with the error that refuses it; a missing folder is no files, not an error."""

from __future__ import annotations

import hashlib
import shutil

from tests.api.conftest import Station
from tests.campaign.conftest import TABLE1


async def test_campaign_files_are_offered_parsed_or_with_why_not(station: Station) -> None:
    folder = station.lab.settings.campaigns_dir
    async with station.client("viewer") as viewer:
        assert (await viewer.get("/api/campaigns/files")).json() == []  # no folder yet
        folder.mkdir(parents=True)
        shutil.copy(TABLE1, folder / "table1.toml")
        (folder / "a-broken.toml").write_text("[campaign]\nid = 'x'\n")
        (folder / "notes.txt").write_text("not a campaign")
        files = (await viewer.get("/api/campaigns/files")).json()
    assert [f["file"] for f in files] == ["a-broken.toml", "table1.toml"]
    broken, table1 = files
    assert broken["params"] is None and "samples" in broken["error"]
    assert broken["error"].startswith("a-broken.toml: ") and str(folder) not in broken["error"]
    assert table1["error"] is None and table1["id"] == "table1-2026"
    assert table1["sha256"] == hashlib.sha256(TABLE1.read_bytes()).hexdigest()
    params = table1["params"]
    assert len(params["samples"]) == 10 and params["press"]["temperature_c"] == 200.0
    assert params["aging"]["hours"] == 1000.0 and params["peel"]["width_mm"] == 3.0
    # What the dashboard posts back is what a file-started campaign would be: accepted as
    # params of kind=campaign (checked, not run: a queue item is only stored).
    async with station.client("operator") as op:
        queued = await op.post("/api/queue", json={"kind": "campaign", "params": params})
        assert queued.status_code == 201, queued.text
        assert (await op.delete(f"/api/queue/{queued.json()['uid']}")).status_code == 200
