"""Alert events: the schema downstream apps read, the per-camera lifecycle, the sinks."""
