"""Finding the service a front end should talk to."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from docqa.config import Settings
from ui.client import find_service


def test_find_service_trusts_only_a_live_answering_service(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    assert find_service(settings) is None, "no note, no URL"
    note = tmp_path / "service.json"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    note.write_text(json.dumps({"url": "http://127.0.0.1:9", "pid": dead.pid}))
    assert find_service(settings) is None, "the note of a killed service"
    note.write_text(json.dumps({"url": "http://127.0.0.1:9", "pid": os.getpid()}))
    assert find_service(settings) is None, "a live pid that serves nothing there"
    note.write_text("{not json")
    assert find_service(settings) is None
    explicit = Settings(home=tmp_path, url="http://10.0.0.5:8000/")
    assert find_service(explicit) == "http://10.0.0.5:8000"
