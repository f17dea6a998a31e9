"""Layout-aware chunking: parsed page blocks -> chunks that fit the embedder's window.

Rules:
- A chunk holds consecutive blocks of one page only (page_start == page_end), so a citation of
  a chunk names exactly one page a reader can check.
- A heading block starts a new chunk (its text is the chunk's first line) and becomes
  `Chunk.heading` of every following chunk until the next heading, across pages.
- Blocks are packed up to `max_tokens` as counted by `count_tokens` (the embedder's own
  tokenizer). Nothing is truncated: a longer block is split at sentence boundaries (llama-index's
  SentenceSplitter), a longer sentence at word and finally character boundaries, each piece
  re-counted with `count_tokens`.
- A table is its own chunk (kind "table"; it may share it only with the heading just above it).
  A table too long for one chunk is split between rows, its Markdown header repeated on top of
  every piece; only a single row longer than the whole window is ever cut.
- OCR blocks make chunks of kind "ocr".

Example:
    >>> from tokenizers import Tokenizer
    >>> tok = Tokenizer.from_file("model/tokenizer.json")  # doctest: +SKIP
    >>> tok.no_truncation(); tok.no_padding()  # doctest: +SKIP
    >>> count = lambda s: len(tok.encode(s).ids)  # doctest: +SKIP
    >>> chunker = LayoutChunker("doc1", count, max_tokens=256)  # doctest: +SKIP
    >>> chunks = chunker.run(parsed_pages)  # doctest: +SKIP
    >>> all(c.tokens <= 256 and c.page_start == c.page_end for c in chunks)  # doctest: +SKIP
    True
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from docqa.types import BlockKind, Box, Chunk
from ingest.parse import ParsedPage

CountTokens = Callable[[str], int]

_JOIN = "\n\n"
"""Between blocks of a chunk: the same separator as `Page.text`, so the text of a chunk made of
whole blocks is a substring of its page's text."""
_MIN_BUDGET = 16


@dataclass
class _Pending:
    kind: BlockKind
    heading: str | None
    parts: list[str] = field(default_factory=list)
    boxes: list[Box] = field(default_factory=list)
    headings_only: bool = False

    def add(self, text: str, box: Box) -> None:
        self.parts.append(text)
        if not self.boxes or self.boxes[-1] != box:
            self.boxes.append(box)


class LayoutChunker:
    """Pack the blocks of one document's `ParsedPage`s, in page order, into `Chunk`s of at most
    `max_tokens` tokens as counted by `count_tokens`.

    `count_tokens` and `max_tokens` must agree on special tokens: either both exclude them (the
    `Embedder` protocol: content tokens, window minus [CLS]/[SEP]) or both include them. For a raw
    `tokenizers.Tokenizer`, call `no_truncation()` and `no_padding()` first: MiniLM's
    tokenizer.json truncates and pads to 128, so every text would count 128.

    The chunker keeps the running chunk index and the heading in force, so pages can be fed one
    at a time as they are parsed (`add`), or all at once (`run`).

    Example:
        >>> chunker = LayoutChunker("doc1", lambda s: len(s.split()), max_tokens=64)
        >>> chunker.run([])
        []
        >>> # streaming: for parsed in pages: store(chunker.add(parsed)); then chunker.finish()
    """

    def __init__(
        self,
        doc_id: str,
        count_tokens: CountTokens,
        max_tokens: int,
        start_index: int = 0,
        heading: str | None = None,
    ) -> None:
        self.doc_id = doc_id
        self.count_tokens = count_tokens
        self.max_tokens = max_tokens
        self.next_index = start_index
        self.heading = heading
        """The heading of the section in force (carried across pages)."""
        self._overhead = count_tokens("")
        """Tokens every text costs however short (e.g. [CLS] and [SEP], when counted)."""
        if max_tokens - self._overhead < _MIN_BUDGET:
            raise ValueError(
                f"max_tokens={max_tokens} leaves fewer than {_MIN_BUDGET} tokens for text"
            )
        self._splitters: dict[int, Any] = {}

    def run(self, pages: Iterable[ParsedPage]) -> list[Chunk]:
        """Chunks of `pages`, in order (the whole document, or the next batch of its pages)."""
        chunks: list[Chunk] = []
        for parsed in pages:
            chunks.extend(self.add(parsed))
        chunks.extend(self.finish())
        return chunks

    def finish(self) -> list[Chunk]:
        """Chunks still held back at the end of the document: always none, since a chunk never
        outlives its page; kept so callers need not rely on that."""
        return []

    def add(self, parsed: ParsedPage) -> list[Chunk]:
        """The chunks of one page (pages must come in document order)."""
        chunks: list[Chunk] = []
        page_no = parsed.page.page

        def emit(pending: _Pending | None) -> None:
            if pending is None or not pending.parts:
                return
            text = _JOIN.join(pending.parts)
            tokens = self.count_tokens(text)
            # by construction every pending chunk fits; re-split rather than ever exceed
            pieces = [text] if tokens <= self.max_tokens else self._split(text, self.max_tokens)
            for piece in pieces:
                chunks.append(
                    Chunk(
                        doc_id=self.doc_id,
                        index=self.next_index,
                        text=piece,
                        page_start=page_no,
                        page_end=page_no,
                        kind=pending.kind,
                        heading=pending.heading,
                        boxes=list(pending.boxes),
                        tokens=tokens if len(pieces) == 1 else self.count_tokens(piece),
                    )
                )
                self.next_index += 1

        # A chunk holds blocks of this page only (page_start == page_end): every citation of a
        # chunk then names exactly one page, which is what makes citations checkable.
        cur: _Pending | None = None
        for block in parsed.blocks:
            text = block.text.strip()
            if not text:
                continue
            if block.kind == "table":
                if cur is not None and cur.headings_only and self._fits([*cur.parts, text]):
                    cur.add(text, block.box)
                    cur.kind = "table"
                    emit(cur)
                    cur = None
                    continue
                emit(cur)
                cur = None
                for piece in self._table_pieces(text, block.table_header):
                    single = _Pending(kind="table", heading=self.heading)
                    single.add(piece, block.box)
                    emit(single)
                continue
            if block.heading:
                title = " ".join(text.split())
                if cur is not None and cur.headings_only and self._fits([*cur.parts, text]):
                    cur.add(text, block.box)  # consecutive headings stay together
                    self.heading = cur.heading = title
                    continue
                emit(cur)
                self.heading = title
                cur = None
            for i, piece in enumerate(self._split(text, self.max_tokens)):
                if cur is not None and cur.kind == block.kind and self._fits([*cur.parts, piece]):
                    cur.add(piece, block.box)
                    cur.headings_only = cur.headings_only and block.heading
                else:
                    emit(cur)
                    cur = _Pending(kind=block.kind, heading=self.heading)
                    cur.add(piece, block.box)
                    cur.headings_only = block.heading and i == 0
        emit(cur)
        return chunks

    # -----------------------------------------------------------------------------------------

    def _fits(self, parts: list[str]) -> bool:
        return self.count_tokens(_JOIN.join(parts)) <= self.max_tokens

    def _table_pieces(self, text: str, table_header: str | None) -> list[str]:
        if self.count_tokens(text) <= self.max_tokens:
            return [text]
        lines = text.splitlines()
        header = (table_header or "\n".join(lines[:2])).strip()
        header_lines = header.splitlines()
        if lines[: len(header_lines)] == header_lines:
            lines = lines[len(header_lines) :]
        rows = [row for row in lines if row.strip()]
        if self.count_tokens(header) > self.max_tokens // 2:
            header = ""  # a header eating half the window would leave room for almost no rows

        def with_header(body: list[str]) -> str:
            return "\n".join([header, *body]) if header else "\n".join(body)

        pieces: list[str] = []
        current: list[str] = []
        for row in rows:
            if current and self.count_tokens(with_header([*current, row])) <= self.max_tokens:
                current.append(row)
                continue
            if current:
                pieces.append(with_header(current))
                current = []
            if self.count_tokens(with_header([row])) <= self.max_tokens:
                current = [row]
                continue
            # a single row longer than the whole window: the only case where a row is cut
            room = self.max_tokens - (self.count_tokens(header) - self._overhead) - 1
            for part in self._split(row, max(room, self._overhead + _MIN_BUDGET // 2)):
                candidate = with_header([part])
                fits = self.count_tokens(candidate) <= self.max_tokens
                pieces.append(candidate if fits else part)
        if current:
            pieces.append(with_header(current))
        return pieces

    def _split(self, text: str, limit: int) -> list[str]:
        """Pieces of `text` of at most `limit` tokens each: sentences first, then words, then
        characters. Every piece is verified with `count_tokens`."""
        if self.count_tokens(text) <= limit:
            return [text]
        pieces: list[str] = []
        for piece in self._sentence_split(text, limit):
            piece = piece.strip()
            if not piece:
                continue
            if self.count_tokens(piece) <= limit:
                pieces.append(piece)
            else:
                pieces.extend(self._hard_split(piece, limit))
        return pieces

    def _sentence_split(self, text: str, limit: int) -> list[str]:
        budget = limit - self._overhead
        splitter = self._splitters.get(budget)
        if splitter is None:
            from llama_index.core.node_parser import SentenceSplitter

            overhead = self._overhead
            count = self.count_tokens

            def tokenize(s: str) -> range:
                # the splitter sums piece sizes: count each without the fixed overhead
                return range(max(0, count(s) - overhead))

            splitter = SentenceSplitter(chunk_size=budget, chunk_overlap=0, tokenizer=tokenize)
            self._splitters[budget] = splitter
        pieces: list[str] = splitter.split_text(text)
        return pieces

    def _hard_split(self, text: str, limit: int) -> list[str]:
        pieces: list[str] = []
        current: list[str] = []
        for word in text.split():
            if current and self.count_tokens(" ".join([*current, word])) <= limit:
                current.append(word)
                continue
            if current:
                pieces.append(" ".join(current))
                current = []
            if self.count_tokens(word) <= limit:
                current = [word]
            else:
                pieces.extend(self._split_chars(word, limit))
        if current:
            pieces.append(" ".join(current))
        return pieces

    def _split_chars(self, word: str, limit: int) -> list[str]:
        pieces: list[str] = []
        rest = word
        while rest:
            if self.count_tokens(rest) <= limit:
                pieces.append(rest)
                break
            lo, hi = 1, len(rest)  # largest prefix that fits, by bisection
            while lo < hi:
                mid = (lo + hi + 1) // 2
                if self.count_tokens(rest[:mid]) <= limit:
                    lo = mid
                else:
                    hi = mid - 1
            pieces.append(rest[:lo])
            rest = rest[lo:]
        return pieces


def chunk_page_blocks(
    doc_id: str,
    pages: Iterable[ParsedPage],
    count_tokens: CountTokens,
    max_tokens: int,
    start_index: int = 0,
    heading: str | None = None,
) -> list[Chunk]:
    """Functional form of `LayoutChunker(doc_id, count_tokens, max_tokens, ...).run(pages)`.

    To continue a document in a later call, pass `start_index=chunks[-1].index + 1` and
    `heading=chunks[-1].heading`.

    Example:
        >>> chunk_page_blocks("doc1", [], lambda s: len(s.split()), max_tokens=64)
        []
    """
    return LayoutChunker(doc_id, count_tokens, max_tokens, start_index, heading).run(pages)
