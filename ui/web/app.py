"""docqa's web UI (Streamlit): `streamlit run ui/web/app.py`. A front end of the REST service
only: it never opens the store. The service is `DOCQA_URL`, else the local service that holds
this home's store, else http://127.0.0.1:8000; the bearer key is `DOCQA_API_KEYS`' first."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from ui.web.session import client

HERE = Path(__file__).parent

st.set_page_config(page_title="docqa", page_icon=":material/description:", layout="wide")
client()  # stops here, saying why, when the service cannot be used
st.navigation(
    [
        st.Page(HERE / "ask_page.py", title="Ask", icon=":material/forum:", default=True),
        st.Page(
            HERE / "library_page.py",
            title="Library",
            icon=":material/library_books:",
            url_path="library",
        ),
        st.Page(HERE / "evals_page.py", title="Eval", icon=":material/analytics:", url_path="eval"),
    ],
    position="top",  # no sidebar: the pages keep the width of a narrow window
).run()
st.caption(st.session_state.get("service_line", ""))
