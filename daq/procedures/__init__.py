"""Procedures: the lab's workflows as explicit, persisted state machines."""
