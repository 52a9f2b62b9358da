"""Parameters of a campaign run: the campaign file's content itself
(:class:`daq.campaign.model.Campaign`), so a file read by ``daq campaign run`` and the
body of ``POST /api/runs`` with ``kind=campaign`` are validated by the same model."""

from __future__ import annotations

import hashlib

from daq.campaign.model import Campaign

#: A campaign run's parameters are the whole campaign.
CampaignParams = Campaign


def definition_sha256(campaign: Campaign) -> str:
    """The fingerprint of a campaign sent as data (a file's is the SHA-256 of its bytes)."""
    return hashlib.sha256(campaign.model_dump_json().encode("utf-8")).hexdigest()
