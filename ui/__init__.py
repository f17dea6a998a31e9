"""docqa ui."""
