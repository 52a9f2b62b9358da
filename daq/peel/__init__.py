"""Peel testing: the steady-region calculation, the capture of a tester's stream and the
automatic capture of front-panel starts."""
