"""The lamination press as a kind of work: its run parameters and how the station
builds a press cycle (the procedure itself is :mod:`daq.press.procedure`)."""
