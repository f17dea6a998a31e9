"""Verifiers: how likely is it that some passages support a sentence?

A `Verifier` has a `name` and `score(sentence, passages) -> VerifierScore`: a score in [0, 1] (the
probability that the passages, read together, support the sentence), the best supporting quote
and the reasons. Verifiers that gain from batching (cross-encoders, an LLM judge) also implement
`score_batch`; `score_many` uses it when present.

Implementations here:

- `GroundingVerifier`: no model. Numbers, entities and content words of the sentence must be in
  the passages; a sentence with a number the passages do not state scores low whatever its
  overlap (and caps a combination, see `VerifierScore.ceiling`).
- `RerankerVerifier`: the ms-marco MiniLM cross-encoder (INT8 ONNX, from the registry) through
  onnxruntime. Its sigmoid is topical relevance, not entailment: a passage about the same line
  item with another number still scores high.
- `NliVerifier`: any NLI cross-encoder (local path or Hugging Face id) through
  sentence-transformers; the probability of the entailment label.
- `LLMJudgeVerifier`: a local chat model (any `LogitsModel`, e.g. the answering model) asked
  whether the passages support the sentence; the score is P("yes") from the logits at the
  answer position (not parsed prose). Passages come before the sentence in the prompt so that
  sentences checked against the same passages share the KV-cache prefix.
- `CombinedVerifier`: logistic combination of member scores (weights on their log-odds).

The judge is one more member of `CombinedVerifier` (`name = "llm"`, weighted by
`DEFAULT_WEIGHTS["llm"]`). Put it after grounding, so that passages missing the sentence's
numbers never reach it (`CombinedVerifier.skip_below`); `build_checker` does.

Example:
    >>> from docqa.types import Passage
    >>> v = GroundingVerifier()
    >>> s = v.score("Revenue was $46.3 billion in fiscal 2023.",
    ...             [Passage(n=1, text="Fiscal 2023 revenue: $46,298 million")])
    >>> s.score > 0.7, s.quote is not None
    (True, True)
"""

from __future__ import annotations

import bisect
import math
import re
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any, Protocol, Self, runtime_checkable

import numpy as np

from docqa.citations.entities import ground_entities
from docqa.citations.numbers import NumberMatch, QuantityKind, ground_numbers, is_distinctive
from docqa.citations.text import content_stems, words
from docqa.generation.base import ChatMessage, LogitsModel, common_prefix_length
from docqa.models import ModelNotFoundError, ModelRegistry
from docqa.types import Passage, Quote

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = [
    "DEFAULT_WEIGHTS",
    "BatchVerifier",
    "ChatRenderer",
    "CombinedVerifier",
    "GroundingVerifier",
    "JudgeStats",
    "LLMJudgeVerifier",
    "NliVerifier",
    "OnnxCrossEncoder",
    "RerankerVerifier",
    "Verifier",
    "VerifierScore",
    "answer_token_ids",
    "chat_renderer",
    "entailment_index",
    "entailment_probability",
    "score_many",
]


@dataclass
class VerifierScore:
    score: float
    """Probability in [0, 1] that the passages support the sentence."""
    quote: Quote | None = None
    reasons: list[str] = field(default_factory=list)
    details: dict[str, float] = field(default_factory=dict)
    ceiling: float | None = None
    """A hard upper bound a combination must respect (a number the passages do not state)."""


@runtime_checkable
class Verifier(Protocol):
    @property
    def name(self) -> str: ...

    def score(self, sentence: str, passages: Sequence[Passage]) -> VerifierScore: ...


@runtime_checkable
class BatchVerifier(Verifier, Protocol):
    def score_batch(
        self, items: Sequence[tuple[str, Sequence[Passage]]]
    ) -> list[VerifierScore]: ...


def score_many(
    verifier: Verifier, items: Sequence[tuple[str, Sequence[Passage]]]
) -> list[VerifierScore]:
    """Score many (sentence, passages) pairs, batched when the verifier supports it."""
    if not items:
        return []
    if isinstance(verifier, BatchVerifier):
        return verifier.score_batch(items)
    return [verifier.score(s, ps) for s, ps in items]


def _clip(p: float, eps: float = 1e-4) -> float:
    return min(1.0 - eps, max(eps, p))


def _logit(p: float) -> float:
    p = _clip(p)
    return math.log(p / (1.0 - p))


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


# --------------------------------------------------------------------------------------------
# Grounding


_PERIODS = (QuantityKind.year, QuantityKind.date)


@dataclass(frozen=True)
class _Hit:
    passage: int
    start: int
    end: int
    term: str


class GroundingVerifier:
    """Numbers + entities + content-word overlap, no model.

    Score (documented so that it can be reasoned about):
      coverage = mean of (a) the share of the sentence's content words found anywhere in the
                 passages and (b) the share of its content words and numbers found together in
                 the best window of `window_chars` characters (also the quote);
      lexical  = 0.35 + 0.65 * coverage when the sentence has amounts or percentages and all are
                 grounded (numbers are the strongest evidence a table gives), else coverage;
      entities = 0.45 per name not found (at least 0.1): a wrong company or product is as
                 wrong as a wrong number, but name extraction is noisier than number extraction;
                 names are also looked for in the passage's file name ("BESTBUY_2023_10K.pdf"):
                 a page of a financial statement rarely names its company;
      numbers  that are not distinctive ("5", "42%", "$2 billion", see `is_distinctive`) only
                 count when found within window_chars / 2 of one of the sentence's words: small
                 numbers are on every page;
      periods  = 0.6 per year or date not found (at least 0.3): softer than amounts, since a
                 page states its period once, in a header the passage may not include;
      score    = 0.02 + 0.96 * lexical * entities * periods, capped at
                 0.05 + (missing_amount_cap - 0.05) * (share of amounts found) when an amount or
                 percentage is missing; the cap is also the `ceiling` a combination respects.
    """

    name = "grounding"

    def __init__(self, window_chars: int = 400, missing_amount_cap: float = 0.25) -> None:
        self.window_chars = window_chars
        self.missing_amount_cap = missing_amount_cap

    @staticmethod
    def _context(p: Passage) -> str:
        if not p.path:
            return p.text
        stem = re.sub(r"[_\-.]+", " ", PurePath(p.path).stem)
        return f"{p.text}\n{stem}"

    def score(self, sentence: str, passages: Sequence[Passage]) -> VerifierScore:
        if not passages:
            return VerifierScore(0.0, reasons=["no passage to check against"])
        texts = [p.text for p in passages]
        stems = content_stems(sentence)
        reasons: list[str] = []

        hits: list[_Hit] = []
        for i, text in enumerate(texts):
            for w in words(text):
                if w.stem in stems:
                    hits.append(_Hit(i, w.start, w.end, w.stem))
        word_starts: dict[int, list[int]] = {}
        for h in hits:
            word_starts.setdefault(h.passage, []).append(h.start)

        def near_words(m: NumberMatch) -> bool:
            # a small number ("5", "42%", "$2 billion") is on every page: it only counts next to
            # the sentence's words; a distinctive one ("1,874", "72.3%") counts anywhere
            if m.claim.kind in _PERIODS or is_distinctive(m.claim) or not stems:
                return True
            starts = word_starts.get(m.passage, [])
            k = bisect.bisect_left(starts, m.source.start)
            return any(
                abs(starts[j] - m.source.start) <= self.window_chars // 2
                for j in (k - 1, k)
                if 0 <= j < len(starts)
            )

        numbers = ground_numbers(sentence, texts, accept=near_words)
        entities = ground_entities(sentence, [self._context(p) for p in passages])
        for k, m in enumerate(numbers.matches):
            hits.append(_Hit(m.passage, m.source.start, m.source.end, f"#{k}"))
        found_stems = {h.term for h in hits if not h.term.startswith("#")}
        global_cov = len(found_stems) / len(stems) if stems else 1.0

        n_terms = len(stems) + numbers.total
        if n_terms == 0:
            # "Yes [1]." cannot be checked by reading: partial, not supported
            return VerifierScore(
                0.3, reasons=["nothing to check: no content words or numbers"], details={}
            )
        best = self._best_window(hits, n_terms)
        local_cov = best[0] / n_terms
        coverage = 0.5 * global_cov + 0.5 * local_cov

        amounts = [m.claim for m in numbers.matches if m.claim.kind not in _PERIODS]
        missing_amounts = [q for q in numbers.ungrounded if q.kind not in _PERIODS]
        missing_periods = [q for q in numbers.ungrounded if q.kind in _PERIODS]

        lexical = coverage
        if amounts and not missing_amounts:
            lexical = 0.35 + 0.65 * coverage
        ent_factor = max(0.1, 0.45 ** len(entities.ungrounded))
        period_factor = max(0.3, 0.6 ** len(missing_periods))
        score = lexical * ent_factor * period_factor

        ceiling: float | None = None
        if missing_amounts:
            share = len(amounts) / (len(amounts) + len(missing_amounts))
            ceiling = 0.05 + (self.missing_amount_cap - 0.05) * share
        if numbers.ungrounded:
            reasons.append(
                "not in the cited text: " + ", ".join(q.text for q in numbers.ungrounded)
            )
        if entities.ungrounded:
            reasons.append(
                "names not in the cited text: " + ", ".join(e.text for e in entities.ungrounded)
            )
        missing_words = [s for s in stems if s not in found_stems]
        if stems and len(missing_words) > len(stems) / 2:
            reasons.append(f"{len(missing_words)} of {len(stems)} content words not found")

        quote = self._quote(best[1], passages) if best[1] else None
        details = {
            "coverage": round(coverage, 4),
            "numbers": float(numbers.total),
            "numbers_grounded": float(len(numbers.matches)),
            "entities": float(entities.total),
            "entities_grounded": float(len(entities.grounded)),
        }
        # never 0 or 1: word overlap cannot be certain, and a combination works on log-odds
        value = 0.02 + 0.96 * max(0.0, min(1.0, score))
        if ceiling is not None:
            value = min(value, ceiling)
        return VerifierScore(value, quote=quote, reasons=reasons, details=details, ceiling=ceiling)

    def _best_window(self, hits: list[_Hit], n_terms: int) -> tuple[int, list[_Hit]]:
        """The window (within one passage) holding the most distinct sentence terms."""
        best: tuple[int, list[_Hit]] = (0, [])
        by_passage: dict[int, list[_Hit]] = {}
        for h in hits:
            by_passage.setdefault(h.passage, []).append(h)
        for ph in by_passage.values():
            ph.sort(key=lambda h: h.start)
            lo = 0
            counts: dict[str, int] = {}
            for hi, h in enumerate(ph):
                counts[h.term] = counts.get(h.term, 0) + 1
                while ph[hi].end - ph[lo].start > self.window_chars:
                    t = ph[lo].term
                    counts[t] -= 1
                    if counts[t] == 0:
                        del counts[t]
                    lo += 1
                if len(counts) > best[0]:
                    best = (len(counts), ph[lo : hi + 1])
                    if best[0] == n_terms:
                        return best
        return best

    @staticmethod
    def _quote(window: list[_Hit], passages: Sequence[Passage]) -> Quote:
        p = passages[window[0].passage]
        start = min(h.start for h in window)
        end = max(h.end for h in window)
        text = p.text
        # widen to the enclosing line(s) so the quote reads as text, within reason
        ls = text.rfind("\n", 0, start) + 1
        le = text.find("\n", end)
        le = len(text) if le < 0 else le
        if start - ls <= 160:
            start = ls
        if le - end <= 160:
            end = le
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        return Quote(passage=p.n, start=start, end=end, text=text[start:end])


# --------------------------------------------------------------------------------------------
# Cross-encoders


class OnnxCrossEncoder:
    """The registry's ms-marco-MiniLM-L-12-v2 cross-encoder (INT8 ONNX) through onnxruntime:
    raw logits of (query, passage) pairs, batched, long passages read in windows.

    Shared by `RerankerVerifier` (citation checking) and `docqa.retrieval.CrossEncoderReranker`
    (reordering search hits), so the model runs one way everywhere.

    Example:
        >>> ce = OnnxCrossEncoder.from_registry(ModelRegistry(cache_dir))  # doctest: +SKIP
        >>> ce.logits([("Best Buy revenue 2023", "Revenue was $46.3 billion.")])  # doctest: +SKIP
    """

    def __init__(
        self,
        model_dir: Path,
        *,
        max_length: int = 256,
        stride: int = 48,
        batch_size: int = 16,
        threads: int | None = None,
    ) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        model = model_dir / "model.onnx"
        tok_file = model_dir / "tokenizer.json"
        for f in (model, tok_file):
            if not f.exists():
                raise ModelNotFoundError(f"reranker file missing: {f}")
        self.tokenizer = Tokenizer.from_file(str(tok_file))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(
            max_length=max_length, stride=stride, strategy="only_second"
        )
        # a query is cut to half the window: windows of the passage need room beside it (the
        # truncation above only cuts the passage, and fails when the query alone fills it)
        self._query_tokens = max_length // 2
        self._query_tokenizer = Tokenizer.from_file(str(tok_file))
        self._query_tokenizer.no_padding()
        self._query_tokenizer.no_truncation()
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        self.session = ort.InferenceSession(
            str(model), sess_options=opts, providers=["CPUExecutionProvider"]
        )
        self.batch_size = batch_size
        self._input_names = {i.name for i in self.session.get_inputs()}

    @classmethod
    def from_registry(cls, registry: ModelRegistry, **kwargs: Any) -> Self:
        """The registry's `reranker` model (sha256-checked before first load)."""
        return cls(Path(registry.path("reranker")), **kwargs)

    def _fit_query(self, query: str) -> str:
        """`query`, cut after its first `max_length // 2` tokens (a sentence that long is
        judged by its beginning)."""
        enc = self._query_tokenizer.encode(query, add_special_tokens=False)
        if len(enc.ids) <= self._query_tokens:
            return query
        return query[: enc.offsets[self._query_tokens - 1][1]]

    def logits(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        """Best-window logit of each (query, passage) pair; a query longer than half the window
        is read up to there."""
        windows: list[tuple[int, list[int], list[int]]] = []
        fitted: dict[str, str] = {}  # a query is usually the same for every pair: cut it once
        for i, (q, p) in enumerate(pairs):
            if q not in fitted:
                fitted[q] = self._fit_query(q)
            enc = self.tokenizer.encode(fitted[q], p)
            for e in [enc, *enc.overflowing]:
                windows.append((i, e.ids, e.type_ids))
        best = [-math.inf] * len(pairs)
        # similar lengths together: less padding per batch
        order = sorted(range(len(windows)), key=lambda k: len(windows[k][1]))
        for b in range(0, len(order), self.batch_size):
            chunk = [windows[k] for k in order[b : b + self.batch_size]]
            width = max(len(ids) for _, ids, _ in chunk)
            ids = np.zeros((len(chunk), width), dtype=np.int64)
            mask = np.zeros_like(ids)
            types = np.zeros_like(ids)
            for r, (_, wid, wtype) in enumerate(chunk):
                ids[r, : len(wid)] = wid
                mask[r, : len(wid)] = 1
                types[r, : len(wtype)] = wtype
            feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
            out = self.session.run(None, {k: v for k, v in feed.items() if k in self._input_names})[
                0
            ]
            for r, (pair_index, _, _) in enumerate(chunk):
                best[pair_index] = max(best[pair_index], float(out[r, 0]))
        return best


class RerankerVerifier(OnnxCrossEncoder):
    """The ms-marco-MiniLM-L-12-v2 cross-encoder (INT8 ONNX) as a relevance signal.

    Long passages are read in overlapping windows of `max_length` tokens (the query repeated in
    each); a passage's logit is its best window's, and the score for several passages is the best
    passage's sigmoid: relevance does not add up across passages the way support does.

    Example:
        >>> from docqa.models import ModelRegistry
        >>> rr = RerankerVerifier.from_registry(ModelRegistry(cache_dir))  # doctest: +SKIP
        >>> rr.score("Best Buy revenue in fiscal 2023", [Passage(n=1, text="...")]).score  # doctest: +SKIP
    """

    name = "reranker"

    def score(self, sentence: str, passages: Sequence[Passage]) -> VerifierScore:
        return self.score_batch([(sentence, passages)])[0]

    def score_batch(self, items: Sequence[tuple[str, Sequence[Passage]]]) -> list[VerifierScore]:
        pairs: list[tuple[str, str]] = []
        owners: list[tuple[int, int]] = []
        for i, (sentence, passages) in enumerate(items):
            for p in passages:
                pairs.append((sentence, p.text))
                owners.append((i, p.n))
        logits = self.logits(pairs) if pairs else []
        best: list[tuple[float, int | None]] = [(-math.inf, None)] * len(items)
        for (i, pn), z in zip(owners, logits, strict=True):
            if z > best[i][0]:
                best[i] = (z, pn)
        out: list[VerifierScore] = []
        for z, n in best:
            if n is None:
                out.append(VerifierScore(0.0, reasons=["no passage to check against"]))
                continue
            s = _sigmoid(z)
            reasons = [] if s >= 0.5 else [f"reranker: passage [{n}] looks unrelated"]
            out.append(
                VerifierScore(s, reasons=reasons, details={"logit": round(z, 3), "passage": n})
            )
        return out


def _identity(x: Any) -> Any:
    return x


def entailment_index(id2label: Mapping[int, str]) -> int:
    """Which output of an NLI model is "entailment", from its config's id2label.

    >>> entailment_index({0: "contradiction", 1: "entailment", 2: "neutral"})
    1
    >>> entailment_index({0: "ENTAILMENT", 1: "NOT_ENTAILMENT"})
    0
    """
    for idx, label in id2label.items():
        low = label.lower().replace("-", "_")
        if "entail" in low and not low.startswith(("not", "non", "no_")):
            return int(idx)
    for idx, label in id2label.items():
        if label.lower() in ("supported", "support", "consistent", "true", "yes"):
            return int(idx)
    raise ValueError(
        f"cannot tell which label means entailment in {dict(id2label)}; "
        "set NliVerifier(entailment_label=...)"
    )


def entailment_probability(logits: NDArray[Any], entail: int | None) -> NDArray[np.float64]:
    """P(entailment) from NLI logits: softmax over labels, or the sigmoid of a single output."""
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim == 1:
        z = z[:, None]
    if z.shape[1] == 1:
        out: NDArray[np.float64] = 1.0 / (1.0 + np.exp(-z[:, 0]))
        return out
    if entail is None:
        raise ValueError("a multi-label NLI model needs the index of its entailment label")
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    probs: NDArray[np.float64] = e[:, entail] / e.sum(axis=1)
    return probs


class NliVerifier:
    """An NLI cross-encoder (premise = the passages, hypothesis = the sentence).

    `model` is a local path or a Hugging Face id already in the user's cache: nothing is
    downloaded (HF_HUB_OFFLINE is set by the front ends). No NLI model ships offline with docqa.
    Long premises are read in windows of `window_words` words; the best window counts.
    """

    name = "nli"

    def __init__(
        self,
        model: str | Path,
        *,
        entailment_label: str | None = None,
        batch_size: int = 8,
        window_words: int = 300,
        device: str = "cpu",
        loader: Callable[[str], Any] | None = None,
    ) -> None:
        ref = str(model)
        path = Path(ref).expanduser()
        looks_local = isinstance(model, Path) or ref.startswith((".", "/", "~")) or path.exists()
        if looks_local and not path.exists():
            raise ModelNotFoundError(f"NLI model path does not exist: {ref}")
        try:
            if loader is not None:
                self.model = loader(str(path) if looks_local else ref)
            else:
                from sentence_transformers import CrossEncoder

                self.model = CrossEncoder(str(path) if looks_local else ref, device=device)
        except OSError as exc:
            raise ModelNotFoundError(
                f"cannot load NLI model '{ref}' (not a local model folder and not in the Hugging "
                f"Face cache; docqa does not download models): {exc}"
            ) from exc
        id2label: Mapping[int, str] = getattr(
            getattr(getattr(self.model, "model", None), "config", None), "id2label", {}
        ) or {0: "score"}
        self.labels = dict(id2label)
        if len(self.labels) == 1:
            self.entail: int | None = None
        elif entailment_label is not None:
            matches = [i for i, lab in self.labels.items() if lab == entailment_label]
            if not matches:
                raise ValueError(f"label {entailment_label!r} not in {self.labels}")
            self.entail = matches[0]
        else:
            self.entail = entailment_index(self.labels)
        self.batch_size = batch_size
        self.window_words = window_words

    def _windows(self, text: str) -> list[str]:
        ws = text.split()
        if len(ws) <= self.window_words:
            return [text]
        step = max(1, self.window_words - self.window_words // 6)
        return [
            " ".join(ws[i : i + self.window_words])
            for i in range(0, len(ws) - self.window_words // 6, step)
        ]

    def score(self, sentence: str, passages: Sequence[Passage]) -> VerifierScore:
        return self.score_batch([(sentence, passages)])[0]

    def score_batch(self, items: Sequence[tuple[str, Sequence[Passage]]]) -> list[VerifierScore]:
        pairs: list[tuple[str, str]] = []
        owner: list[int] = []
        for i, (sentence, passages) in enumerate(items):
            premise = "\n\n".join(p.text for p in passages)
            for w in self._windows(premise):
                pairs.append((w, sentence))
                owner.append(i)
        best = [0.0] * len(items)
        if pairs:
            # raw logits: a one-label CrossEncoder applies a sigmoid by default
            logits = self.model.predict(
                pairs,
                batch_size=self.batch_size,
                activation_fn=_identity,
                apply_softmax=False,
                convert_to_numpy=True,
            )
            probs = entailment_probability(np.asarray(logits), self.entail)
            for i, p in zip(owner, probs.tolist(), strict=True):
                best[i] = max(best[i], float(p))
        return [VerifierScore(p, reasons=[] if p >= 0.5 else ["nli: not entailed"]) for p in best]


# --------------------------------------------------------------------------------------------
# LLM judge


ChatRenderer = Callable[[Sequence[ChatMessage]], list[int]]
"""Chat messages -> prompt token ids after the model's chat template, with the generation prompt
(`LlamaCppGenerator.chat_tokens`, `TransformersGenerator.chat_tokens`)."""

JUDGE_SYSTEM = (
    "You check citations. Answer yes only if the passage states or directly implies everything "
    "the sentence claims: every number (a number that differs in any digit means no), name and "
    "date. Otherwise answer no. Reply with one word."
)
JUDGE_QUESTION = "Does the passage support the sentence? Answer yes or no."
JUDGE_QUESTION_MANY = "Do the passages, read together, support the sentence? Answer yes or no."
YES_WORDS = ("yes", "Yes", " yes", " Yes", "YES")
NO_WORDS = ("no", "No", " no", " No", "NO")
_NUMBER = re.compile(r"\d(?:[\d,]*\d)?(?:\.\d+)?")


def chat_renderer(model: LogitsModel) -> ChatRenderer:
    """The chat template of a local `LogitsModel` (llama.cpp or transformers), as token ids.

    Shares the model's weights (no second load): the llama.cpp renderer reads the template from
    the GGUF metadata of the same `Llama`.
    """
    # a backend module is only imported when a model of it exists (llama_cpp, torch are heavy)
    if "docqa.generation.llamacpp" in sys.modules:
        from docqa.generation.llamacpp import LlamaCppGenerator, LlamaCppLogitsModel

        if isinstance(model, LlamaCppLogitsModel):
            llama = model.llama
            return LlamaCppGenerator(Path(llama.model_path), llama=llama).chat_tokens
    if "docqa.generation.transformers_backend" in sys.modules:
        from docqa.generation.transformers_backend import (
            TransformersGenerator,
            TransformersLogitsModel,
        )

        if isinstance(model, TransformersLogitsModel):
            return TransformersGenerator(model.model, model.tokenizer).chat_tokens
    raise TypeError(
        f"no chat template known for {type(model).__name__}; pass chat_tokens= (the generator's "
        "chat_tokens method)"
    )


def answer_token_ids(model: LogitsModel, words_: Sequence[str] = YES_WORDS) -> tuple[int, ...]:
    """Ids of the spellings in `words_` that are a single token of `model` (others are left out:
    the answer position only scores one token)."""
    ids: list[int] = []
    for w in words_:
        t = model.tokenize(w)
        if len(t) == 1 and t[0] not in ids:
            ids.append(t[0])
    return tuple(ids)


def _source(p: Passage) -> str:
    """ " (BESTBUY_2023_10K.pdf, p. 40)": where the passage is from, when known. A page of a
    financial statement rarely names its company; its file name does."""
    parts = [PurePath(p.path).name] if p.path else []
    if p.page is not None:
        pages = f"{p.page}-{p.page_end}" if p.page_end and p.page_end != p.page else str(p.page)
        parts.append(f"p. {pages}")
    return f" ({', '.join(parts)})" if parts else ""


def _logsumexp(z: NDArray[Any]) -> float:
    m = float(np.max(z))
    return m + math.log(float(np.sum(np.exp(z - m))))


@dataclass
class JudgeStats:
    """Work done by an `LLMJudgeVerifier` since it was made (or `reset_stats`)."""

    checks: int = 0
    prompt_tokens: int = 0
    """Tokens of all the prompts judged."""
    decoded_tokens: int = 0
    """Tokens actually run through the model: prompt tokens minus the prefix found in the KV
    cache (plus the one last token that prefill always decodes again for its logits)."""
    cut_passages: int = 0
    """Passages cut to a window because the cited passages exceeded `max_passage_tokens`."""
    seconds: float = 0.0

    @property
    def reused_tokens(self) -> int:
        return self.prompt_tokens - self.decoded_tokens


class LLMJudgeVerifier:
    """Asks a local chat model whether the cited passages support the sentence; the score is
    P(yes) from the logits at the answer position, never parsed text.

    Prompt (rendered by the model's own chat template, `chat_tokens`): a short system message,
    then a user turn "Passage (<file name>, p. <page>):\\n<passage>\\n\\nSentence: <sentence>
    \\n\\n<question>" (several passages: "Passages:" and each as "[n] (<file>, p. <page>) <text>";
    the source is left out when unknown). The passages come before the sentence, so
    that every sentence checked against the same passages shares the prompt prefix with the
    previous one and `LogitsModel.prefill` only computes the tail; `score_batch` orders the
    prompts by their token ids to make neighbours share the longest prefix.

    P(yes) = exp(LSE(z_yes)) / (exp(LSE(z_yes)) + exp(LSE(z_no))), z the logits of the first
    answer token, yes/no the ids of the single-token spellings of `YES_WORDS` / `NO_WORDS`
    ("yes", "Yes", " yes", ...). `details["yes_no_mass"]` is their share of the full softmax:
    near 0 means the model wanted to say something else.

    Passage cap (`max_passage_tokens`, in the model's tokens, counted over the cited passages
    together): passages that fit are given whole (and their prefix can be shared). Otherwise
    the budget is split equally, a passage shorter than its share keeping its length and leaving
    the rest to the others; a passage longer than its share is cut to the window of `share`
    consecutive tokens (starting at multiples of share/4) that holds the most distinct content
    words and numbers of the sentence, earliest on ties, marked with "..." where text was cut.

    The model's KV cache is shared with whatever else uses it (the generator): judging replaces
    its content after the common prefix. Not thread-safe, like the model.

    Example:
        >>> lm = load_logits_model(settings.generation, registry)  # doctest: +SKIP
        >>> judge = LLMJudgeVerifier(lm, chat_renderer(lm))  # doctest: +SKIP
        >>> judge.score("Revenue was $46.3 billion.", [Passage(n=1, text="Revenue $46,298 million")]).score  # doctest: +SKIP
        0.93
    """

    name = "llm"

    def __init__(
        self,
        model: LogitsModel,
        chat_tokens: ChatRenderer,
        *,
        max_passage_tokens: int = 512,
        system: str | None = JUDGE_SYSTEM,
    ) -> None:
        if max_passage_tokens < 16:
            raise ValueError("max_passage_tokens must be at least 16")
        self.model = model
        self.chat_tokens = chat_tokens
        self.max_passage_tokens = max_passage_tokens
        self.system = system
        self.yes_ids = answer_token_ids(model, YES_WORDS)
        self.no_ids = answer_token_ids(model, NO_WORDS)
        if not self.yes_ids or not self.no_ids or set(self.yes_ids) & set(self.no_ids):
            raise ValueError(
                f"cannot find single-token yes/no answers in this model's vocabulary "
                f"(yes: {self.yes_ids}, no: {self.no_ids})"
            )
        self.stats = JudgeStats()

    def reset_stats(self) -> None:
        self.stats = JudgeStats()

    # prompt

    def _shares(self, lengths: Sequence[int]) -> list[int]:
        """Water-filling: each passage gets min(its length, an equal share of what is left)."""
        shares = [0] * len(lengths)
        left = self.max_passage_tokens
        order = sorted(range(len(lengths)), key=lambda i: lengths[i])
        for k, i in enumerate(order):
            share = left // (len(order) - k)
            shares[i] = min(lengths[i], share)
            left -= shares[i]
        return shares

    def _window(self, ids: list[int], share: int, sentence: str) -> str:
        terms = set(content_stems(sentence))
        numbers = {n.replace(",", "") for n in _NUMBER.findall(sentence)}
        step = max(1, share // 4)
        best: tuple[int, int] = (-1, 0)
        last = max(0, len(ids) - share)
        starts = list(range(0, last + 1, step))
        if starts[-1] != last:
            starts.append(last)
        for start in starts:
            text = self.model.detokenize(ids[start : start + share])
            found = {w.stem for w in words(text)} & terms
            flat = text.replace(",", "")
            hits = len(found) + sum(
                1 for n in numbers if re.search(rf"(?<![\d.]){re.escape(n)}(?![\d])", flat)
            )
            if hits > best[0]:
                best = (hits, start)
        start = best[1]
        text = self.model.detokenize(ids[start : start + share]).strip()
        head = "... " if start > 0 else ""
        tail = " ..." if start + share < len(ids) else ""
        return f"{head}{text}{tail}"

    def passage_texts(self, sentence: str, passages: Sequence[Passage]) -> list[str]:
        """The passage texts put in the prompt, cut to `max_passage_tokens` (see the class doc)."""
        texts = [p.text.strip() for p in passages]
        ids = [self.model.tokenize(t) for t in texts]
        lengths = [len(t) for t in ids]
        if sum(lengths) <= self.max_passage_tokens:
            return texts
        out: list[str] = []
        for text, tids, share in zip(texts, ids, self._shares(lengths), strict=True):
            if len(tids) <= share:
                out.append(text)
            else:
                self.stats.cut_passages += 1
                out.append(self._window(tids, share, sentence))
        return out

    def messages(self, sentence: str, passages: Sequence[Passage]) -> list[ChatMessage]:
        """The chat the judge sends (before the chat template)."""
        return self._chat(sentence, passages, self.passage_texts(sentence, passages))

    def _chat(
        self, sentence: str, passages: Sequence[Passage], texts: Sequence[str]
    ) -> list[ChatMessage]:
        if len(texts) == 1:
            body = f"Passage{_source(passages[0])}:\n{texts[0]}"
            question = JUDGE_QUESTION
        else:
            body = "Passages:\n" + "\n\n".join(
                f"[{p.n}]{_source(p)} {t}" for p, t in zip(passages, texts, strict=True)
            )
            question = JUDGE_QUESTION_MANY
        user = f"{body}\n\nSentence: {' '.join(sentence.split())}\n\n{question}"
        out = [ChatMessage(role="system", content=self.system)] if self.system else []
        out.append(ChatMessage(role="user", content=user))
        return out

    def prompt_ids(self, sentence: str, passages: Sequence[Passage]) -> list[int]:
        return self.prompt(sentence, passages)[0]

    def prompt(self, sentence: str, passages: Sequence[Passage]) -> tuple[list[int], int]:
        """The prompt's token ids and where its part shared by every sentence on the same
        passages ends: a batch boundary of the prefill, so the passages' state is reused and
        the logits are the same whatever was judged before."""
        texts = self.passage_texts(sentence, passages)
        ids = self.chat_tokens(self._chat(sentence, passages, texts))
        head = self.chat_tokens(self._chat("", passages, texts))
        return ids, common_prefix_length(ids, head)

    # scoring

    def _p_yes(self, z: NDArray[Any]) -> tuple[float, float]:
        z = np.asarray(z, dtype=np.float64)
        ly = _logsumexp(z[list(self.yes_ids)])
        ln = _logsumexp(z[list(self.no_ids)])
        p = _sigmoid(ly - ln)
        mass = math.exp(_logsumexp(np.array([ly, ln])) - _logsumexp(z))
        return p, mass

    def _judge(self, ids: list[int], boundary: int) -> tuple[float, float]:
        common = self.model.reusable(ids)
        t0 = time.perf_counter()
        z = self.model.prefill(ids, boundary=boundary)
        self.stats.seconds += time.perf_counter() - t0
        self.stats.checks += 1
        self.stats.prompt_tokens += len(ids)
        self.stats.decoded_tokens += len(ids) - common
        return self._p_yes(z)

    def score(self, sentence: str, passages: Sequence[Passage]) -> VerifierScore:
        return self.score_batch([(sentence, passages)])[0]

    def score_batch(self, items: Sequence[tuple[str, Sequence[Passage]]]) -> list[VerifierScore]:
        out: list[VerifierScore | None] = [None] * len(items)
        prompts: dict[int, list[int]] = {}
        shared: dict[int, int] = {}
        for i, (sentence, passages) in enumerate(items):
            if passages:
                prompts[i], shared[i] = self.prompt(sentence, passages)
            else:
                out[i] = VerifierScore(0.0, reasons=["no passage to check against"])
        # lexicographic order of the token ids: neighbours share the longest cached prefix
        for i in sorted(prompts, key=lambda k: prompts[k]):
            p, mass = self._judge(prompts[i], shared[i])
            reasons = [] if p >= 0.5 else [f"llm judge: not supported (P(yes) = {p:.2f})"]
            out[i] = VerifierScore(
                p,
                reasons=reasons,
                details={"yes_no_mass": round(mass, 4), "prompt_tokens": float(len(prompts[i]))},
            )
        done = [s for s in out if s is not None]
        assert len(done) == len(items)
        return done


# --------------------------------------------------------------------------------------------
# Combination


DEFAULT_WEIGHTS: dict[str, float] = {"grounding": 1.0, "reranker": 0.05, "nli": 1.0, "llm": 1.0}
"""Weights on each member's log-odds. Grounding, NLI and an LLM judge are meant as calibrated
probabilities and enter at weight 1. The reranker's logit spans about -11..+11 and says relevance,
not support (on the dev-corpus pairs it ranks a statement with a changed number or company as
high as the true one), so it only breaks ties: at most ~0.5 log-odds. Measured on the dev set
(eval/bench_citations.py), weights 0.1 and above lowered the combination's AUROC.
The judge's weight 1 is what stacking the members' log-odds (logistic regression, 5-fold CV) fit
on the checkable pairs of a 104-pair subset with Qwen2.5-1.5B (grounding 0.95, judge 0.95); on
all pairs it fit 0.13 (computed answers, capped by grounding anyway): little evidence either
way, the judge adds ~0.01 AUROC there."""


class CombinedVerifier:
    """score = sigmoid(bias + sum_i w_i * logit(s_i)), then capped by any member's `ceiling`.

    Members are run in order. With `skip_below` set, an item whose ceiling from the members run
    so far is already below it is not sent to the later (costlier) members: its verdict cannot
    change, only its score under the cap. Put cheap members first (grounding), so that the
    cross-encoder does not read passages that lack the sentence's numbers (most repair
    candidates). The quote is the first member's quote that is not None.

    Example:
        >>> v = CombinedVerifier([(GroundingVerifier(), 1.0)])
        >>> v.name
        'combined'
    """

    name = "combined"

    def __init__(
        self,
        members: Sequence[tuple[Verifier, float]],
        bias: float = 0.0,
        skip_below: float | None = 0.3,
    ) -> None:
        if not members:
            raise ValueError("CombinedVerifier needs at least one member")
        self.members = list(members)
        self.bias = bias
        self.skip_below = skip_below

    @classmethod
    def default(cls, *verifiers: Verifier) -> CombinedVerifier:
        """The verifiers given, weighted by `DEFAULT_WEIGHTS` (1.0 for unknown names)."""
        return cls([(v, DEFAULT_WEIGHTS.get(v.name, 1.0)) for v in verifiers])

    def combine(self, member_scores: Sequence[VerifierScore | None]) -> VerifierScore:
        """Combine one item's member scores (None: that member was skipped)."""
        z = self.bias
        quote: Quote | None = None
        reasons: list[str] = []
        details: dict[str, float] = {}
        ceiling: float | None = None
        for (v, w), s in zip(self.members, member_scores, strict=True):
            if s is None:
                continue
            z += w * _logit(s.score)
            details[v.name] = round(s.score, 4)
            quote = quote or s.quote
            reasons.extend(s.reasons)
            if s.ceiling is not None:
                ceiling = s.ceiling if ceiling is None else min(ceiling, s.ceiling)
        p = _sigmoid(z)
        if ceiling is not None:
            p = min(p, ceiling)
        return VerifierScore(p, quote=quote, reasons=reasons, details=details, ceiling=ceiling)

    def score(self, sentence: str, passages: Sequence[Passage]) -> VerifierScore:
        return self.score_batch([(sentence, passages)])[0]

    def score_batch(self, items: Sequence[tuple[str, Sequence[Passage]]]) -> list[VerifierScore]:
        table: list[list[VerifierScore | None]] = [[None] * len(self.members) for _ in items]
        ceilings: list[float] = [1.0] * len(items)
        for m, (v, _) in enumerate(self.members):
            todo = [
                i
                for i in range(len(items))
                if m == 0 or self.skip_below is None or ceilings[i] >= self.skip_below
            ]
            for i, s in zip(todo, score_many(v, [items[i] for i in todo]), strict=True):
                table[i][m] = s
                if s.ceiling is not None:
                    ceilings[i] = min(ceilings[i], s.ceiling)
        return [self.combine(row) for row in table]
