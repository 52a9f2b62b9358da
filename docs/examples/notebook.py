"""A notebook's worth of analysis of a station's records: a peel curve and the Table 1 bars.

Run it as a script, or paste its cells (``# %%``) into Jupyter::

    pip install 'lamina-daq[notebook]'
    daq login                                  # or: export DAQ_TOKEN=…
    python docs/examples/notebook.py table1-2026 plots/

It reads the station at ``DAQ_STATION_URL`` (default ``http://127.0.0.1:8000``) with the
token ``daq login`` saved (or ``DAQ_TOKEN``), and writes ``peel_curve.png`` and
``table1.png`` into the folder given (default: the current one). docs/notebook.md walks
through it; tests/client/test_notebook_example.py runs it against a test station.
"""

# %% Connect with the blocking client (its own event loop in a thread: fine in Jupyter).
import sys
from pathlib import Path

import matplotlib

if "ipykernel" not in sys.modules:
    matplotlib.use("Agg")  # a script writes files; a notebook shows the figures inline
import matplotlib.pyplot as plt

from daq.client import SyncStation

campaign_id = sys.argv[1] if len(sys.argv) > 1 else "table1-2026"
out = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(".")
out.mkdir(parents=True, exist_ok=True)

station = SyncStation()  # DAQ_STATION_URL and the saved token; or SyncStation(url, token)
print(station.health().status)

# %% Table 1 as the patent lays it out: a row per sample, peel (N/cm) as made and aged.
table = station.table1(campaign_id)
print(table[["laser_grade", "peel_as_made_n_per_cm", "peel_aged_n_per_cm",
             "patent_as_made_n_per_cm", "patent_aged_n_per_cm"]].round(1))

# %% One peel curve: the first as-made specimen of the first sample with a film.
record = station.table1_record(campaign_id)
first = next(row for row in record.rows if row.as_made.specimens)
test_id = first.as_made.specimens[0].run_id
curve = station.peel_curve(test_id)
a = curve.attrs

fig, ax = plt.subplots(figsize=(8, 4))
ax.plot(curve["travel_mm"], curve["force_n"], lw=0.6, label="force")
ax.axvspan(a["steady_start_mm"], a["steady_end_mm"], alpha=0.15, label="steady region")
ax.axhline(a["mean_force_n"], ls="--", color="k",
           label=f"mean {a['mean_force_n']:.2f} N → {a['peel_strength_n_per_cm']:.1f} N/cm")
ax.set(xlabel="travel [mm]", ylabel="force [N]",
       title=f"{a['specimen_id']}: 90° peel, {a['width_mm']:g} mm strip")
ax.legend(loc="lower right")
fig.tight_layout()
fig.savefig(out / "peel_curve.png", dpi=120)

# %% The Table 1 bars: measured (bars, ± one standard deviation) beside the patent (dots).
films = table[~table["no_film"]]
x = range(len(films))
fig, ax = plt.subplots(figsize=(9, 4))
for offset, (cond, colour) in zip((-0.2, 0.2), (("as_made", "C0"), ("aged", "C1")),
                                  strict=True):
    ax.bar([i + offset for i in x], films[f"peel_{cond}_n_per_cm"], width=0.4,
           yerr=films[f"sd_{cond}_n_per_cm"].fillna(0), color=colour,
           label=f"measured, {cond.replace('_', ' ')}")
    ax.plot([i + offset for i in x], films[f"patent_{cond}_n_per_cm"], "o", color="k",
            label="patent" if cond == "as_made" else None)
ax.set_xticks(list(x), films.index, rotation=20)
hours = films["aging_hours"].max()
ax.set(ylabel="peel strength [N/cm]", title=f"{campaign_id}: as made and after {hours:g} h aging")
ax.legend()
fig.tight_layout()
fig.savefig(out / "table1.png", dpi=120)

station.close()
print(f"wrote {out / 'peel_curve.png'} and {out / 'table1.png'}")
