"""`docqa check-citations FILE.json`: check the citations of a saved answer.

The file holds `{"answer": "... [1] ...", "passages": [{"n": 1, "text": "...", "page": 3}]}`
(passages may also carry `doc_id`, `path`, `page_end`, `boxes`; other keys are ignored). The
result is `{"sentences": [{"text", "citations", "verdict", "score", "repaired_citations", ...}],
"citation_recall", "citation_precision"}`; `repaired_citations` is null unless a repair was made.

Example:
    >>> result = check_citations_file(Path("answer.json"), checker=checker)  # doctest: +SKIP
    >>> result["citation_recall"]  # doctest: +SKIP
    1.0
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, StrictInt, StrictStr, ValidationError

from docqa.citations.checker import CitationChecker, build_checker
from docqa.citations.verifiers import CombinedVerifier, Verifier
from docqa.config import Settings
from docqa.generation.base import LogitsModel
from docqa.models import ModelRegistry
from docqa.types import Box, CitationReport, Passage

__all__ = [
    "CitationFileError",
    "check_citations_file",
    "default_checker",
    "load_citations_file",
    "report_to_dict",
]


class CitationFileError(ValueError):
    """A citations file that cannot be read: the message names the file and the field."""


class _PassageIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    n: StrictInt
    text: StrictStr
    page: StrictInt | None = None
    page_end: StrictInt | None = None
    doc_id: StrictStr | None = None
    path: StrictStr | None = None
    boxes: list[Box] = []


class _FileIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    answer: StrictStr
    passages: list[_PassageIn]


_TYPE_NAMES = {
    "int_type": "an integer",
    "string_type": "a string",
    "list_type": "a list",
    "model_type": "an object",
    "dict_type": "an object",
    "float_type": "a number",
}


def _where(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _explain(path: Path, err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        where = _where(tuple(e["loc"]))
        if e["type"] == "missing":
            lines.append(f"field '{where}' is missing")
        elif e["type"] in _TYPE_NAMES:
            got = type(e.get("input")).__name__
            lines.append(f"field '{where}' must be {_TYPE_NAMES[e['type']]}, not {got}")
        else:
            lines.append(f"field '{where}': {e['msg']}")
    return f"{path}: " + "; ".join(lines)


def load_citations_file(path: Path) -> tuple[str, list[Passage]]:
    """The answer and passages of a citations file, or a `CitationFileError` saying what is wrong."""
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise CitationFileError(f"{path}: no such file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise CitationFileError(f"{path}: cannot read the file: {exc}") from exc
    try:
        data: Any = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise CitationFileError(
            f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from exc
    if not isinstance(data, dict):
        raise CitationFileError(
            f"{path}: expected an object with 'answer' and 'passages', got {type(data).__name__}"
        )
    try:
        parsed = _FileIn.model_validate(data)
    except ValidationError as exc:
        raise CitationFileError(_explain(path, exc)) from exc
    seen: set[int] = set()
    for i, p in enumerate(parsed.passages):
        if p.n in seen:
            raise CitationFileError(f"{path}: field 'passages[{i}].n': {p.n} is used twice")
        seen.add(p.n)
    passages = [Passage(**p.model_dump()) for p in parsed.passages]
    return parsed.answer, passages


def default_checker(
    settings: Settings,
    *,
    reranker: bool | None = None,
    logits_model: LogitsModel | None = None,
) -> CitationChecker:
    """`build_checker(settings.citations, ...)`. `reranker` overrides `citations.reranker` when
    not None (None: the reranker when its package is installed; True: required; False: not
    used); the result's `verifiers` key says which were used. `logits_model`: the answering
    model's, for the LLM judge (`citations.judge`) to share; None: the judge loads its own."""
    cfg = settings.citations
    if reranker is not None:
        cfg = cfg.model_copy(update={"reranker": reranker})
    return build_checker(
        cfg, ModelRegistry(settings.cache_dir), logits_model, generation=settings.generation
    )


def _verifier_names(v: Verifier) -> list[str]:
    if isinstance(v, CombinedVerifier):
        return [n for m, _ in v.members for n in _verifier_names(m)]
    return [v.name]


def report_to_dict(report: CitationReport, verifiers: list[str] | None = None) -> dict[str, Any]:
    """The `--json` form: the contract's keys first, then the details."""
    sentences = []
    for s in report.sentences:
        d = s.model_dump(mode="json")
        sentences.append(
            {
                "text": d.pop("text"),
                "citations": d.pop("citations"),
                "verdict": d.pop("verdict"),
                "score": d.pop("score"),
                "repaired_citations": d.pop("repaired_citations"),
                **d,
            }
        )
    out: dict[str, Any] = {
        "sentences": sentences,
        "citation_recall": report.citation_recall,
        "citation_precision": report.citation_precision,
    }
    if verifiers is not None:
        out["verifiers"] = verifiers
    return out


def check_citations_file(
    path: Path,
    *,
    checker: CitationChecker | None = None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Check the answer in `path` against its passages (see the module doc for the format).

    `checker` defaults to `default_checker(settings)`; `settings` to `Settings()` (this is a
    front end, where the configuration is read).
    """
    answer, passages = load_citations_file(path)
    if checker is None:
        checker = default_checker(settings or Settings())
    return report_to_dict(checker.check(answer, passages), _verifier_names(checker.verifier))
