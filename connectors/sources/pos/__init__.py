"""Point-of-sale source: loyalty members and transactions from a SQL database (SQLite or PostgreSQL)."""

from connectors.sources.pos.tables import PosTable, streams

__all__ = ["PosTable", "streams"]
