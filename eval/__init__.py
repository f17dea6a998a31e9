"""docqa eval."""
