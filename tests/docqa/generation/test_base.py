from __future__ import annotations

import pytest
from pydantic import ValidationError

from docqa.config import GenerationSettings, Settings
from docqa.generation import GenerationConfig, StopFilter, answer_config


def test_stop_filter_holds_back_a_partial_stop_and_cuts_at_a_full_one() -> None:
    f = StopFilter(["</answer>", "\n\n"])
    shown = [f.push(p) for p in ["Paris is", " the capital.</an", "swer> ignored"]]
    assert shown == ["Paris is", " the capital.", ""]
    assert f.stopped
    assert f.push("more") == "" and f.flush() == ""


def test_stop_filter_releases_held_text_that_was_not_a_stop() -> None:
    f = StopFilter(["</answer>"])
    assert f.push("a </an") == "a "
    assert f.push("d b") == "</and b"
    assert f.push(" </") == " "
    assert f.flush() == "</"
    assert not f.stopped


def test_stop_spanning_many_pieces_is_never_shown() -> None:
    f = StopFilter(["STOP"])
    text = "".join(f.push(c) for c in "abcSTOPdef") + f.flush()
    assert text == "abc"


def test_generation_config_defaults_to_greedy_and_validates() -> None:
    cfg = GenerationConfig()
    assert cfg.temperature == 0.0 and cfg.stop == [] and cfg.max_tokens > 0
    with pytest.raises(ValidationError):
        GenerationConfig(max_tokens=0)
    with pytest.raises(ValidationError):
        GenerationConfig(top_p=0.0)


def test_generation_settings_are_a_section_of_settings(tmp_path: object) -> None:
    s = Settings(home=str(tmp_path), generation={"backend": "openai", "base_url": "http://x/v1"})
    assert s.generation.backend == "openai"
    assert Settings(home=str(tmp_path)).generation.model == "qwen2.5-1.5b"
    cfg = answer_config(GenerationSettings(max_answer_tokens=64, seed=7), stop=["\n"])
    assert (cfg.max_tokens, cfg.seed, cfg.stop, cfg.temperature) == (64, 7, ["\n"], 0.0)


def test_generation_settings_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    monkeypatch.setenv("DOCQA_GENERATION__BACKEND", "transformers")
    monkeypatch.setenv("DOCQA_GENERATION__N_CTX", "4096")
    s = Settings(home=str(tmp_path))
    assert s.generation.backend == "transformers" and s.generation.n_ctx == 4096
