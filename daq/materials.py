"""The service's catalogue of adhesive-film materials (lot material keys of Table 1).

What the station needs to create sample records: each key's name, the adhesive
thickness it is cast at, and whether it forms a film at all. Expected peel strengths
are deliberately *not* here: the service measures them, it never assumes them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MaterialInfo:
    """One adhesive-film material as the lab's records name it."""

    key: str
    name: str
    adhesive_thickness_um: float
    film_forms: bool
    note: str = ""


NO_FILM = "no film: polyimide insoluble"

CATALOGUE: dict[str, MaterialInfo] = {
    m.key: m
    for m in [
        MaterialInfo("EX1", "Example 1", 5, True, "ESDA / BAPS-M / Epikote 1032H60"),
        MaterialInfo("EX2", "Example 2", 5, True, "TMEG / BAPS-M / Epikote 1032H60"),
        MaterialInfo("EX3", "Example 3", 5, True, "ESDA / APB / Epikote 1032H60"),
        MaterialInfo("EX4", "Example 4", 5, True, "TMEG / APB / Epikote 1032H60"),
        MaterialInfo("EX5", "Example 5", 5, True, "ESDA / BAPS-M / TETRAD-C"),
        MaterialInfo("CMP1", "Comparative 1", 15, True, "as Example 1 but 15 µm"),
        MaterialInfo("CMP2", "Comparative 2", 0, False, NO_FILM + " (BPDA / BAPS-M)"),
        MaterialInfo("CMP3", "Comparative 3", 0, False, NO_FILM + " (ESDA / ODA)"),
        MaterialInfo("CMP4", "Comparative 4", 5, True, "polyimide alone, no epoxy or curing agent"),
        MaterialInfo("CMP5", "Comparative 5", 5, True, "copolyamide (Platamid M1276) + epoxy"),
    ]
}


def material_info(key: str) -> MaterialInfo:
    """The catalogue entry of a material key (``EX1`` … ``CMP5``, any case)."""
    try:
        return CATALOGUE[key.strip().upper()]
    except KeyError:
        known = ", ".join(CATALOGUE)
        raise KeyError(f"unknown material {key!r}; known: {known}") from None


def material_key_of(lot_or_specimen_id: str) -> str | None:
    """The material key an id starts with (``EX1-2026-001`` → ``EX1``), if it names one."""
    prefix = lot_or_specimen_id.split("-", 1)[0].upper()
    return prefix if prefix in CATALOGUE else None
