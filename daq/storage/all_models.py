"""Imports every table module so that ``Base.metadata`` knows the whole schema.

Alembic's ``env.py`` and ``create_all`` use this. Each area's ``*_models.py`` is imported
if it exists, so areas can land in any order; add a name to ``AREA_MODULES`` for a new one.
"""

from __future__ import annotations

import importlib
import importlib.util

from daq.storage import models as models
from daq.storage.base import Base

#: Table modules of the areas, in migration order (0002_peel … 0008_queue).
AREA_MODULES = (
    "daq.storage.peel_models",
    "daq.storage.aging_models",
    "daq.storage.laser_models",
    "daq.storage.auth_models",
    "daq.storage.campaign_models",
    "daq.storage.claim_models",
    "daq.storage.queue_models",
)

for _name in AREA_MODULES:
    if importlib.util.find_spec(_name) is not None:
        importlib.import_module(_name)

metadata = Base.metadata

__all__ = ["AREA_MODULES", "Base", "metadata", "models"]
