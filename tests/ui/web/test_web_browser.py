"""The web UI in a real browser (Debian's Chromium driven by Playwright) against a real
service: upload a generated PDF and wait for its job, ask a question and watch the answer
stream and get checked, open a citation's page with its highlight, delete the document, open
an eval run's dashboard. Each step is saved as a screenshot (at 1280 px; the answer and the
dashboard also at 800 px) in `eval/out/ui-screenshots/`, to be looked at."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pdfs
import pytest
from services import ROOT, free_port

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = ROOT / "eval" / "out" / "ui-screenshots"
KEY = "web-key"  # the service fixture's (conftest.py)

if not Path(CHROMIUM).exists() and not os.environ.get("CI"):
    pytest.skip("no chromium here (make test installs it)", allow_module_level=True)


@pytest.fixture(scope="module")
def ui(service: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "DOCQA_URL": service, "DOCQA_API_KEYS": KEY, "HF_HUB_OFFLINE": "1"}
    env["DOCQA_HOME"] = str(tmp_path_factory.mktemp("ui-home"))  # the UI opens no store
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "streamlit", "run", "ui/web/app.py",
            "--server.headless", "true", "--server.address", "127.0.0.1",
            "--server.port", str(port), "--browser.gatherUsageStats", "false",
            "--client.toolbarMode", "minimal",
        ],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        try:
            if httpx.get(f"{url}/_stcore/health", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "streamlit did not start"
        time.sleep(0.3)
    yield url
    proc.terminate()
    proc.wait(timeout=30)


SAW_STATUS_LINE = """() => {
    window.docqaSawAnswering = false;
    new MutationObserver(() => {
        if (document.body.innerText.includes("Answering")) window.docqaSawAnswering = true;
    }).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""
"""Installed in the page before a question: sets `window.docqaSawAnswering` once the streamed
status line ("Answering ...") has been on the page, however briefly."""


def test_upload_ask_open_the_citation_delete_and_look_at_an_eval_run_in_a_browser(
    ui: str, eval_run: Path, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=120_000)  # a busy 2-core machine: each rerun takes seconds
    SHOTS.mkdir(parents=True, exist_ok=True)
    pdf = pdfs.text_pdf(tmp_path / "brightwater_review.pdf", pages=2)
    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=args)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(60_000)

        try:
            page.goto(f"{ui}/library")
            expect(page.get_by_role("heading", name="Library")).to_be_visible()
            page.locator('input[type="file"]').set_input_files(str(pdf))
            ingest = page.get_by_role("button", name="Ingest the uploaded files")
            expect(ingest).to_be_enabled()
            page.screenshot(path=SHOTS / "1-library-upload.png", full_page=True)
            ingest.click()
            expect(page.get_by_text("1 file(s) ingested")).to_be_visible(timeout=300_000)
            page.screenshot(path=SHOTS / "2-library-ingested.png", full_page=True)

            page.goto(ui)
            expect(page.get_by_role("heading", name="Ask")).to_be_visible()
            box = page.get_by_placeholder("Ask a question about your documents")
            box.fill("What does the Brightwater operations review say?")
            # streamed: the status line follows the generation before the checked answer lands.
            # A short answer can replace it between two polls of `expect`, so the page itself
            # records whether it was ever shown.
            page.evaluate(SAW_STATUS_LINE)
            box.press("Enter")
            chip = page.get_by_role("button", name="p. ").first
            expect(chip).to_be_visible(timeout=300_000)
            assert page.evaluate("window.docqaSawAnswering"), "no status line while answering"
            marked = page.locator("span[class^='docqa-']")
            expect(marked.first).to_be_visible()
            verdicts = {marked.nth(i).get_attribute("class") for i in range(marked.count())}
            page.screenshot(path=SHOTS / "3-answer.png", full_page=True)
            chip.click()
            figure = page.get_by_role("img").last
            expect(figure).to_be_visible(timeout=120_000)
            expect(page.get_by_text("Quoted")).to_be_visible()
            page.screenshot(path=SHOTS / "4-citation-opened.png", full_page=True)
            page.set_viewport_size({"width": 800, "height": 900})
            page.screenshot(path=SHOTS / "5-citation-800px.png", full_page=True)
            page.set_viewport_size({"width": 1280, "height": 900})

            page.goto(f"{ui}/library")
            expect(page.get_by_role("heading", name="Library")).to_be_visible()
            page.get_by_label("Document").click()
            page.get_by_role("option", name="brightwater_review.pdf").first.click()
            page.get_by_role("button", name="Delete").click()
            expect(page.get_by_text("removed brightwater_review.pdf")).to_be_visible()
            page.screenshot(path=SHOTS / "6-library-deleted.png", full_page=True)

            page.goto(f"{ui}/eval?run={quote(str(eval_run))}")
            expect(page.get_by_role("heading", name="Eval runs")).to_be_visible()
            expect(page.get_by_text("Accuracy vs cost")).to_be_visible(timeout=120_000)
            expect(page.get_by_text("Gold (")).to_be_visible()
            expect(page.get_by_text("closed-book").first).to_be_visible()
            expect(page.get_by_role("img").last).to_be_visible()  # the evidence page
            # Streamlit scrolls inside its own container: a tall window shows the whole page
            page.set_viewport_size({"width": 1280, "height": 2600})
            page.screenshot(path=SHOTS / "7-eval-dashboard.png", full_page=True)
            page.set_viewport_size({"width": 800, "height": 2600})
            page.screenshot(path=SHOTS / "8-eval-800px.png", full_page=True)
        except Exception:
            page.screenshot(path=SHOTS / "failed.png", full_page=True)
            raise
        browser.close()
    assert verdicts <= {"docqa-supported", "docqa-partial", "docqa-unsupported"} and verdicts
