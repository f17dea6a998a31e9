"""The `docqa` command line, run as a user runs it (a subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pdfs
from services import cli, env_for


def test_check_citations_json_contract_and_repair(tmp_path: Path) -> None:
    f = tmp_path / "answer.json"
    f.write_text(
        json.dumps(
            {
                "answer": "Revenue rose 10.7% to $503.8 million [2]. Operating income was $46.2 million [1].",
                "passages": [
                    {
                        "n": 1,
                        "text": "Northwind expects 2025 revenue between $540 and $560 million.",
                        "page": 2,
                    },
                    {
                        "n": 2,
                        "text": "Revenue rose 10.7% to $503.8 million. Operating income reached "
                        "$46.2 million.",
                        "page": 1,
                    },
                ],
            }
        )
    )
    r = cli(tmp_path / "home", "check-citations", str(f), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert {"sentences", "citation_recall", "citation_precision"} <= set(out)
    first, second = out["sentences"]
    assert {"text", "citations", "verdict", "score", "repaired_citations"} <= set(first)
    assert (first["citations"], first["verdict"], first["repaired_citations"]) == (
        [2],
        "supported",
        None,
    )
    assert (second["citations"], second["verdict"]) == ([1], "unsupported")
    assert second["repaired_citations"] == [2]
    assert out["citation_recall"] == 0.5


def test_check_citations_malformed_file_names_the_field(tmp_path: Path) -> None:
    f = tmp_path / "bad.json"
    f.write_text(json.dumps({"answer": "x [1]", "passages": [{"n": "one", "text": "t"}]}))
    r = cli(tmp_path / "home", "check-citations", str(f))
    assert r.returncode == 1
    assert "passages[0].n" in r.stderr


def test_store_with_another_embedding_model_is_refused_clearly(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert cli(home, "docs").returncode == 0
    r = cli(home, "docs", embedding__model="bge-small")
    assert r.returncode == 1
    assert "built with the embedding model 'minilm'" in " ".join(r.stderr.split())


def test_ask_json_contract_and_errors(tmp_path: Path) -> None:
    home = tmp_path / "home"
    folder = tmp_path / "demo docs"
    assert cli(home, "demo", str(folder)).returncode == 0
    assert cli(home, "ingest", str(folder), "--json").returncode == 0

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return cli(home, *args, generation__model="smollm2", generation__max_answer_tokens="40")

    r = run("ask", "What was Northwind's revenue in 2024?", "--strategy", "rag", "--json")
    assert r.returncode == 0, r.stderr
    a = json.loads(r.stdout)
    assert {"answer", "abstained", "sentences", "citations", "route", "timings", "tokens"} <= set(a)
    assert a["route"]["strategy"] == "rag" and a["route"]["reasons"]
    assert all({"text", "citations"} <= set(s) for s in a["sentences"])
    for c in a["citations"]:
        assert {"n", "doc_id", "path", "page", "bbox", "quote"} <= set(c)
    assert a["timings"]["total"] > 0 and a["tokens"]["prompt"] > 0

    # the document filter, by file name; long context over one small document
    trucks = ("ask", "How many trucks?", "--doc", "northwind_annual_report_2024.pdf")
    r = run(*trucks, "--strategy", "long-context", "--json")
    assert r.returncode == 0, r.stderr
    a = json.loads(r.stdout)
    assert a["route"]["strategy"] == "long-context"
    assert {p["page"] for p in a["passages"]} == {1, 2}

    # speculative decoding says how it went and whether the answer is long context's own
    r = run(*trucks, "--strategy", "speculative")
    assert r.returncode == 0, r.stderr
    said = " ".join(r.stdout.split())
    assert "speculative (ngram drafter):" in said and "drafted tokens accepted" in said
    assert "the long-context answer token for token" in said or "may part from" in said

    # a question about what a picture shows: the answer carries the caveat, printed as a note
    r = run("ask", "What colour is the 2024 bar in the revenue chart?", "--strategy", "closed-book")
    assert r.returncode == 0, r.stderr
    assert "note:" in r.stdout and "cannot see colours" in " ".join(r.stdout.split())

    r = run("ask", "Anything?", "--doc", "no-such.pdf")
    assert r.returncode == 1 and "no-such.pdf" in r.stderr
    r = run("ask", "Anything?", "--strategy", "guess")
    assert r.returncode == 1 and "--strategy" in r.stderr
    r = run("ask", "Anything?", "--strategy", "long-context")
    assert r.returncode == 1 and "name the documents" in r.stderr


def test_a_partial_document_in_ingest_and_docs(tmp_path: Path) -> None:
    home = tmp_path / "home"
    f = pdfs.cyclic_tree_pdf(tmp_path / "cyclic.pdf")
    r = cli(home, "ingest", str(f), "--json")
    assert r.returncode == 2, r.stderr  # a page was lost: scripts must notice
    (row,) = json.loads(r.stdout)["documents"]
    assert (row["status"], row["pages"], row["error"]) == ("partial", 2, None)
    assert row["failed_pages"] == [
        {"page": 2, "reason": "cannot load page (code=7: cycle in page tree)"}
    ]
    assert "partial: " in r.stderr and "1 page not read: page 2: cannot load page" in r.stderr

    docs = cli(home, "docs", "--json")
    assert docs.returncode == 0, docs.stderr
    (doc,) = json.loads(docs.stdout)["documents"]
    assert (doc["status"], doc["pages"], doc["failed_pages"]) == (
        "partial",
        2,
        row["failed_pages"],
    )
    wide = {**env_for(home), "COLUMNS": "250"}  # one table row per line
    cmd = [sys.executable, "-m", "ui.cli", "docs"]
    root = Path(__file__).resolve().parents[2]
    table = subprocess.run(cmd, cwd=root, env=wide, capture_output=True, text=True, timeout=600)
    assert table.returncode == 0, table.stderr
    line = next(ln for ln in table.stdout.splitlines() if "cyclic.pdf" in ln)
    assert "partial" in line and "1 page not read: page 2: cannot load page" in line
