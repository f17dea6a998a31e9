"""BM25 sparse vectors with Qdrant's own tokenizer and stemmer (`qdrant_edge.Bm25`).

Both stores get their sparse vectors from here, so a chunk has the same BM25 vector whether it
lives in Qdrant Edge or on a Qdrant server. The vectors carry term-frequency weights only; the
IDF part is computed by the engine at query time (sparse vectors with `Modifier.IDF`), so
adding documents never requires re-encoding the others.
"""

from __future__ import annotations

from collections.abc import Iterable

from qdrant_edge import Bm25, Bm25Config

from docqa.types import SparseVector

DEFAULT_AVG_LEN = 120.0
"""Average chunk length in BM25 tokens (stopwords removed, stemmed). Chunks of 150-250 embedder
(WordPiece) tokens of English prose come to about 0.6 BM25 tokens per WordPiece token."""


class Bm25Encoder:
    """Text to BM25 sparse vectors: `document()` for chunks, `query()` for questions.

    Example:
        >>> bm25 = Bm25Encoder()
        >>> doc = bm25.document("Zirconium alloys resist corrosion in reactors.")
        >>> q = bm25.query("zirconium corrosion")
        >>> set(q.indices) <= set(doc.indices)
        True
        >>> bm25.query("the of and").indices  # stopwords only
        []
    """

    def __init__(
        self,
        avg_len: float = DEFAULT_AVG_LEN,
        k: float = 1.2,
        b: float = 0.75,
        language: str = "english",
    ) -> None:
        self._model = Bm25(Bm25Config(k=k, b=b, avg_len=avg_len, language=language))

    def document(self, text: str) -> SparseVector:
        """Term-frequency weights, saturated by `k` and normalized by length (`b`, `avg_len`)."""
        vector = self._model.embed_document(text)
        return SparseVector(indices=list(vector.indices), values=list(vector.values))

    def documents(self, texts: Iterable[str]) -> list[SparseVector]:
        return [self.document(text) for text in texts]

    def query(self, text: str) -> SparseVector:
        """Weight 1 for each distinct query term (the engine multiplies in the IDF)."""
        vector = self._model.embed_query(text)
        return SparseVector(indices=list(vector.indices), values=list(vector.values))
