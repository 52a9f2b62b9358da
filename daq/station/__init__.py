"""The station: the one controller of the lab's instruments.

It composes the instruments, acquisition, storage and MQTT (:class:`daq.station.lab.Lab`
today) and exposes a typed interface to its clients (:mod:`daq.station.interface`).

- :mod:`daq.station.engine` is the run engine through which every run starts, whatever
  client asks; :mod:`daq.station.queue` is the run queue feeding it in order.
- :mod:`daq.station.ownership` claims every instrument in the shared database (one
  controller at a time) and recovers only this station's interrupted runs.
- :mod:`daq.station.journal` is the journal every record passes through on its way to the
  database (bounded memory, spilling to a local append-only file), so that a database
  outage delays a record and never an instrument; :mod:`daq.station.recording` is the
  :class:`daq.record.Recorder` that procedures call, writing into that journal.
"""
