"""A campaign as ordered steps, and the ids of what it makes (laminates, specimens).

Order: record every sample; for each film-forming sample press its laminate and peel its
as-made specimens; one aging run with every aged specimen; pull them out at the end;
peel them; drill and grade each sample's laser job. Ids are derived from the lot id, so a
resumed campaign names the same things again: laminate ``<lot>-L1``, as-made specimens
``<lot>-L1-A1…``, aged specimens ``<lot>-L1-G1…``.
"""

from __future__ import annotations

from dataclasses import dataclass

from daq.campaign.model import Campaign, SampleSpec

#: Step kinds, in the order they first appear.
STEP_KINDS = ("samples", "press", "peel", "aging", "pullout", "laser")


@dataclass(frozen=True)
class PlannedStep:
    """One unit of work of a campaign."""

    key: str
    kind: str
    sample_id: str | None = None
    specimen_id: str | None = None


def laminate_id(lot: str) -> str:
    """The laminate pressed from ``lot``."""
    return f"{lot}-L1"


def as_made_specimens(campaign: Campaign, sample: SampleSpec) -> list[str]:
    """Specimens of ``sample`` peeled as made."""
    n = campaign.peel.specimens_per_condition
    return [f"{laminate_id(sample.lot)}-A{i}" for i in range(1, n + 1)]


def aged_specimens(campaign: Campaign, sample: SampleSpec) -> list[str]:
    """Specimens of ``sample`` that go through the aging run before their peel."""
    n = campaign.peel.specimens_per_condition
    return [f"{laminate_id(sample.lot)}-G{i}" for i in range(1, n + 1)]


def film_samples(campaign: Campaign) -> list[SampleSpec]:
    """The samples that make a film (the others are only recorded)."""
    return [s for s in campaign.samples if s.film_forms]


def all_aged_specimens(campaign: Campaign) -> list[str]:
    """Every specimen of the one aging run."""
    return [sid for s in film_samples(campaign) for sid in aged_specimens(campaign, s)]


def plan_steps(campaign: Campaign) -> list[PlannedStep]:
    """Every step of ``campaign`` in execution order."""
    steps = [PlannedStep("samples", "samples")]
    films = film_samples(campaign)
    for s in films:
        steps.append(PlannedStep(f"press:{s.lot}", "press", s.lot))
        steps += [PlannedStep(f"peel:{sid}", "peel", s.lot, sid)
                  for sid in as_made_specimens(campaign, s)]
    if films:
        steps.append(PlannedStep("aging", "aging"))
        steps.append(PlannedStep("pullout", "pullout"))
    for s in films:
        steps += [PlannedStep(f"peel:{sid}", "peel", s.lot, sid)
                  for sid in aged_specimens(campaign, s)]
    steps += [PlannedStep(f"laser:{s.lot}", "laser", s.lot) for s in films]
    return steps
