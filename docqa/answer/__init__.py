"""Answering: strategies (RAG, long context, closed book), the `auto` router, the document KV
cache, and `Answerer.ask`, which returns a checked `Answer`."""

from docqa.answer.answerer import Answerer, AnswerError
from docqa.answer.kvcache import DocumentKVCache
from docqa.answer.strategies import DoesNotFitError

__all__ = ["AnswerError", "Answerer", "DocumentKVCache", "DoesNotFitError"]
