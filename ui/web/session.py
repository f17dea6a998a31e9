"""The session's connection to the service, shared by the pages."""

from __future__ import annotations

import streamlit as st

from docqa.config import Settings
from ui.client import ServiceClient, ServiceError, find_service

DEFAULT_URL = "http://127.0.0.1:8000"


def client() -> ServiceClient:
    """The session's client, checked against `/v1/info`; stops the page with a plain message
    when the service is unreachable or refuses the key."""
    if "svc" not in st.session_state:
        settings = Settings()
        url = find_service(settings) or DEFAULT_URL
        st.session_state.svc = ServiceClient.from_settings(settings, url)
    svc: ServiceClient = st.session_state.svc
    try:
        info = svc.info()
    except ServiceError as e:
        if e.status == 401:
            st.error(
                f"The docqa service at {svc.url} refused the API key. Set DOCQA_API_KEYS to a "
                "key the service accepts, then reload."
            )
        else:
            st.error(
                f"Cannot reach the docqa service at {svc.url}. Start it with `docqa serve` "
                f"(or set DOCQA_URL), then reload. ({e})"
            )
        st.stop()
    st.session_state.service_line = (
        f"Service {svc.url} · docqa {info['version']} · {info['generation_model']} · "
        f"store {info['store']}"
    )
    return svc


def current() -> ServiceClient:
    """The client `app.py` checked for this run (checked here when a page runs alone)."""
    svc = st.session_state.get("svc")
    return svc if isinstance(svc, ServiceClient) else client()
