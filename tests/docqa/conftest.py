"""Fixtures for the engine tests: the offline generator models, resolved through the registry."""

from __future__ import annotations

from pathlib import Path

import pytest

from docqa.models import REGISTRY, ModelRegistry, package_dir


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> ModelRegistry:
    return ModelRegistry(tmp_path_factory.mktemp("model-cache"))


@pytest.fixture(scope="session")
def smollm2_path(registry: ModelRegistry) -> Path:
    path = registry.path("smollm2")
    assert isinstance(path, Path)
    return path


def _carried(registry: ModelRegistry, name: str) -> Path:
    """The model file of registry entry `name`; the test is skipped, with the install command,
    when its carrier packages are not installed."""
    spec = REGISTRY[name]
    missing = [p for p in spec.packages if package_dir(p) is None]
    if missing:
        pytest.skip(
            f"the {name} carriers are not installed ({len(missing)} of {len(spec.packages)} "
            f"missing): {spec.install}"
        )
    path = registry.path(name)
    assert isinstance(path, Path)
    return path


@pytest.fixture(scope="session")
def qwen_path(registry: ModelRegistry) -> Path:
    return _carried(registry, "qwen2.5-1.5b")


@pytest.fixture(scope="session")
def drafter_path(registry: ModelRegistry) -> Path:
    """Qwen2.5-Coder-0.5B-Instruct, the speculative strategy's drafter model (`make setup`)."""
    return _carried(registry, "qwen2.5-0.5b")
