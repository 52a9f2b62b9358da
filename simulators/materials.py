"""The adhesive films of Table 1 of JP2003-027014, as the simulators model them.

Peel strengths are N/cm on a 3 mm copper strip (JIS C 6481), as made and after
150 °C × 1000 h. A material that cannot be made into a film (its polyimide does not
dissolve) has ``film_forms = False`` and no peel or laser values.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Material:
    """One row of Table 1."""

    key: str
    name: str
    acid: str
    diamine: str
    epoxy: str
    adhesive_thickness_um: float
    film_forms: bool
    peel_as_made_n_per_cm: float | None
    peel_after_aging_n_per_cm: float | None
    laser_grade: str | None  # "O", "Δ", "X"
    note: str = ""


MATERIALS: dict[str, Material] = {
    m.key: m
    for m in [
        Material("EX1", "Example 1", "ESDA", "BAPS-M", "Epikote 1032H60", 5, True, 9, 7, "O"),
        Material("EX2", "Example 2", "TMEG", "BAPS-M", "Epikote 1032H60", 5, True, 10, 6, "O"),
        Material("EX3", "Example 3", "ESDA", "APB", "Epikote 1032H60", 5, True, 9, 7, "O"),
        Material("EX4", "Example 4", "TMEG", "APB", "Epikote 1032H60", 5, True, 11, 6, "O"),
        Material("EX5", "Example 5", "ESDA", "BAPS-M", "TETRAD-C", 5, True, 10, 7, "O"),
        Material(
            "CMP1",
            "Comparative 1",
            "ESDA",
            "BAPS-M",
            "Epikote 1032H60",
            15,
            True,
            9,
            7,
            "X",
            "as Example 1 but 15 µm",
        ),
        Material(
            "CMP2",
            "Comparative 2",
            "BPDA",
            "BAPS-M",
            "Epikote 1032H60",
            0,
            False,
            None,
            None,
            None,
            "no film: polyimide insoluble",
        ),
        Material(
            "CMP3",
            "Comparative 3",
            "ESDA",
            "ODA",
            "Epikote 1032H60",
            0,
            False,
            None,
            None,
            None,
            "no film: polyimide insoluble",
        ),
        Material(
            "CMP4",
            "Comparative 4",
            "ESDA",
            "BAPS-M",
            "none",
            5,
            True,
            1,
            1,
            "O",
            "polyimide alone, no epoxy, no curing agent",
        ),
        Material(
            "CMP5",
            "Comparative 5",
            "Platamid M1276",
            "-",
            "epoxy",
            5,
            True,
            8,
            2,
            "O",
            "copolyamide + epoxy",
        ),
    ]
}

AGING_HOURS = 1000.0


def material_for_id(sample_or_specimen_id: str) -> Material | None:
    """The material named by an id's prefix (``EX1-…``, ``CMP1-…``), if any."""
    prefix = sample_or_specimen_id.split("-", 1)[0].upper()
    return MATERIALS.get(prefix)


def peel_strength_n_per_cm(material: Material, aging_hours: float) -> float | None:
    """Expected mean peel strength after ``aging_hours`` at 150 °C.

    Between 0 and 1000 h the loss is taken as linear in time — the patent gives only the
    two end points, and a linear path is the least-assuming model between them.
    """
    if material.peel_as_made_n_per_cm is None or material.peel_after_aging_n_per_cm is None:
        return None
    f = min(max(aging_hours / AGING_HOURS, 0.0), 1.0)
    return material.peel_as_made_n_per_cm + f * (
        material.peel_after_aging_n_per_cm - material.peel_as_made_n_per_cm
    )
