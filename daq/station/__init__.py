"""The station's own machinery: ownership of its instruments (``daq.station.ownership``)."""
