"""Extension point for the areas' API panels (peel tests, aging runs, laser jobs).

An area adds a router module under ``daq.api.routers`` and a line to ``AREA_ROUTERS``;
modules whose storage models are not there yet are skipped, so areas land in any order.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging

from fastapi import FastAPI

log = logging.getLogger(__name__)

#: Router modules of the areas: module name → storage models module it needs.
AREA_ROUTERS: dict[str, str] = {
    "daq.api.routers.laser": "daq.storage.laser_models",
    "daq.api.routers.peel": "daq.storage.peel_models",
    "daq.api.routers.aging": "daq.storage.aging_models",
    "daq.api.routers.campaigns": "daq.storage.campaign_models",
}


def include_area_routers(app: FastAPI) -> list[str]:
    """Include every area router whose storage models exist; the names included."""
    included: list[str] = []
    for module_name, models_name in AREA_ROUTERS.items():
        if importlib.util.find_spec(models_name) is None:
            continue
        module = importlib.import_module(module_name)
        app.include_router(module.router)
        included.append(module_name)
    return included
