"""The Streamlit web UI: a front end of the REST service only (it never opens the store)."""
