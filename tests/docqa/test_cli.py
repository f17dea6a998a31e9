"""The `docqa` command line, run as a user runs it (a subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def docqa(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DOCQA_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "docqa.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


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
    r = docqa(tmp_path / "home", "check-citations", str(f), "--json")
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
    r = docqa(tmp_path / "home", "check-citations", str(f))
    assert r.returncode == 1
    assert "passages[0].n" in r.stderr


def test_store_with_another_embedding_model_is_refused_clearly(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert docqa(home, "docs").returncode == 0
    env_model = {"DOCQA_EMBEDDING__MODEL": "bge-small"}
    r = subprocess.run(
        [sys.executable, "-m", "docqa.cli", "docs"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "DOCQA_HOME": str(home), "HF_HUB_OFFLINE": "1", **env_model},
        timeout=300,
    )
    assert r.returncode == 1
    assert "built with the embedding model 'minilm'" in " ".join(r.stderr.split())
