"""The REST service: `create_app` (FastAPI) and `docqa serve`."""
