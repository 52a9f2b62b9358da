"""Instrument drivers for the Lamina lab, usable on their own from a script or notebook.

Layers: ``drivers.transport`` moves lines of bytes to an address given as a VISA
resource string; ``drivers.scpi`` speaks SCPI over a transport; each driver module
gives one instrument's commands their meaning.
"""
