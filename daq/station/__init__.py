"""The station: the one controller of the lab's instruments.

It composes the instruments, acquisition, storage and MQTT (:class:`daq.service.Lab`
today), owns the run engine (:mod:`daq.station.engine`) through which every run starts,
whatever client asks, and exposes a typed interface to its clients
(:mod:`daq.station.interface`).
"""
