"""The Library page: upload or ingest a folder (a job with live progress), the documents, a page
viewer, delete and re-ingest."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import streamlit as st

from ingest.jobs import Job
from ui.client import ServiceClient, ServiceError


def follow(svc: ServiceClient, submitted: Job) -> Job:
    """Show a job's progress until it ends; then its failures, each with its reason."""
    bar = st.progress(0.0, text="queued…")
    t0 = time.monotonic()
    job = submitted
    try:
        for job in svc.job_events(submitted.id):
            done = job.pages_done / job.pages_total if job.pages_total else 0.0
            eta = ""
            if job.seconds_left is not None and job.pages_total > job.pages_done:
                eta = f" · ETA {job.seconds_left:.0f} s"
            bar.progress(
                min(done, 1.0),
                text=(
                    f"{job.state.value}: {job.files_done}/{job.files_total or '?'} files, "
                    f"{job.pages_done}/{job.pages_total} pages, "
                    f"{job.pages_per_second:.1f} pages/s{eta} · {time.monotonic() - t0:.0f} s"
                ),
            )
    except ServiceError as e:
        st.error(str(e))
        return job
    failed = [r for r in job.results if r.status.value == "failed"]
    ok = len(job.results) - len(failed)
    if job.state.value == "done":
        st.success(f"{ok} file(s) ingested or unchanged, {len(failed)} failed")
    else:
        st.warning(f"the job ended {job.state.value}: {job.error or ''}")
    for r in failed:
        hint = (
            " — re-ingest it from a folder with its password"
            if "encrypted" in (r.error or "")
            else ""
        )
        st.error(f"{Path(r.path).name}: {r.error}{hint}")
    for r in job.results:
        if r.status.value == "partial":
            missing = "; ".join(map(str, r.failed_pages))
            st.warning(
                f"{Path(r.path).name}: indexed without {len(r.failed_pages)} page(s) ({missing})"
            )
    return job


def library_page(svc: ServiceClient) -> None:
    st.header("Library")
    up, folder = st.columns(2)
    with up:
        files = st.file_uploader(
            "Upload PDFs", type=["pdf"], accept_multiple_files=True, key="uploads"
        )
        if st.button("Ingest the uploaded files", disabled=not files, type="primary"):
            try:
                job = svc.upload([(f.name, f.getvalue()) for f in files or []])
            except ServiceError as e:
                st.error(str(e))
            else:
                follow(svc, job)
    with folder, st.form("folder"):
        path = st.text_input("Or a folder or file on the server (inside its ingestion roots)")
        recursive = st.checkbox("Include subfolders", value=True)
        password = st.text_input("Password for encrypted PDFs (optional)", type="password")
        if st.form_submit_button("Ingest") and path:
            try:
                pw = {Path(path).name: password} if password else {}
                job = svc.ingest([Path(path)], prune=False, passwords=pw, recursive=recursive)
            except ServiceError as e:
                st.error(str(e))
            else:
                follow(svc, job)

    if flash := st.session_state.pop("flash", None):
        st.success(flash)
    try:
        docs = svc.documents()
    except ServiceError as e:
        st.error(str(e))
        return
    if not docs:
        st.info("No documents yet: upload PDFs above.")
        return
    table = pd.DataFrame(
        [
            {
                "title": d.title or "",
                "file": d.filename,
                "pages": d.pages,
                "chunks": d.chunks,
                "OCR pages": d.ocr_pages,
                "status": d.status.value,
                "errors": d.error
                or "; ".join([str(f) for f in d.failed_pages[:2]] + d.warnings[:2]),
                "indexed": pd.to_datetime(d.indexed_at, unit="s") if d.indexed_at else None,
            }
            for d in docs
        ]
    )
    st.dataframe(table, hide_index=True, use_container_width=True)

    names = {f"{d.filename} ({d.doc_id[:6]})": d for d in docs}
    choice = st.selectbox("Document", list(names), key="lib_doc")
    doc = names[choice]
    view, actions = st.columns([3, 1])
    with actions:
        if st.button("Delete", key="delete"):
            try:
                svc.remove(doc.doc_id)
            except ServiceError as e:
                st.error(str(e))
            else:  # said after the rerun that drops it from the table
                st.session_state.flash = f"removed {doc.filename}"
                st.rerun()
        if st.button("Re-ingest", key="reingest"):
            try:
                follow(svc, svc.ingest([Path(doc.path)], prune=False, passwords={}))
            except ServiceError as e:
                st.error(str(e))
    with view:
        if doc.pages and doc.status.visible:
            last = doc.pages + len(doc.failed_pages)  # a failed page's image shows its reason
            n = st.number_input("Page", min_value=1, max_value=last, value=1, key="lib_page")
            try:
                st.image(
                    svc.page_image(doc.doc_id, int(n)),
                    caption=f"{doc.filename}, page {n}",
                    width="stretch",
                )
            except ServiceError as e:
                st.warning(str(e))
