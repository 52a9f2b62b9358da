"""The station's own machinery: ownership of its instruments and the way to storage.

``daq.station.ownership`` claims every instrument in the shared database (one controller
at a time); ``daq.station.journal`` is the journal every record passes through on its way
to the database (bounded memory, spilling to a local append-only file), so that a
database outage delays a record and never an instrument; ``daq.station.recording`` is the
:class:`daq.record.Recorder` that procedures call, writing into that journal.
"""
