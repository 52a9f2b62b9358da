"""Lamina DAQ service: acquisition, procedures, storage, MQTT and the operator API."""

__version__ = "0.1.0"
