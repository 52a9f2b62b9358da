"""Simulated instruments of the Lamina lab, serving the real wire protocols.

They listen on real TCP sockets (VISA ``TCPIP::…::SOCKET``) and pseudo-terminals (serial,
VISA ``ASRL…::INSTR``), share nothing with ``drivers`` or ``daq`` but the protocol, run
on an accelerated clock and accept fault injection.
"""
