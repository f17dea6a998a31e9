"""docqa ingest."""
