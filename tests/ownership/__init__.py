"""Exclusive ownership of instruments: claims, serial locks, per-station recovery."""
