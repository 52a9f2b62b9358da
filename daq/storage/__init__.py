"""Persistence: SQLAlchemy 2 async models, the database recorder, batched reading writes."""
