"""Aging runs: hour accounting and excursions (pure logic, no I/O)."""
