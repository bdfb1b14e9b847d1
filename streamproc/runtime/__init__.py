"""Long-running processes that wire the stages together (ingest; the stream worker)."""
