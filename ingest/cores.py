"""Sharing the cores between the parser processes and the embedder while a folder ingests.

The two sides of the pipeline take turns being the slow one: on text pages the parser runs
ahead until its outbox is full (`ingest.queue_pages`) and then waits, idle, for the embedder;
on scanned pages the embedder waits for OCR. A fixed split (one core each on two cores) leaves
a core idle whenever one side waits. With `ingest.share_cores`, each side says in shared memory
what it computes with, and each takes what the other leaves:

- a parser process sets its flag while it parses (not while it waits on its full outbox);
  the embedder takes, before each model batch, the cores no parser computes on (`take`);
- the embedder's thread count is shared too; a parser OCRs a page with the cores the embedder
  leaves (`ParserCores.ocr_threads`), all of them while it waits;
- each parser also counts the work it has found and parsed, and says when it has finished
  (`CoreShare.progress`): the ETA of a run whose parser runs far ahead reads it
  (`ingest.eta.PipelineEta`).

Written here rather than taken from a library: the signals ("this parser waits on its own
outbox", "the embedder computes on n threads", "this much is parsed") are the pipeline's own;
each is a byte or a double of `multiprocessing` shared memory.

Example:
    >>> share = CoreShare(multiprocessing.get_context("spawn"), cores=2)
    >>> parser = share.parser()  # given to the parser process
    >>> share.take()  # the parser computes: the embedder gets the other core
    1
    >>> parser.computing.value = 0  # it waits on its full outbox
    >>> share.take()
    2
    >>> parser.ocr_threads()  # the embedder computes on both
    1
"""

from __future__ import annotations

from dataclasses import dataclass
from multiprocessing.context import BaseContext
from typing import NamedTuple, Protocol


class Shared(Protocol):
    """A byte of shared memory (`multiprocessing` `RawValue("b")`)."""

    value: int


class SharedFloat(Protocol):
    """A double in shared memory (`multiprocessing` `RawValue("d")`)."""

    value: float


class ParserProgress(NamedTuple):
    """How far the parsers of a run are (`ingest.eta.PipelineEta` reads it)."""

    found: float
    """Work of the documents they have opened."""
    parsed: float
    """Work of the pages they have parsed."""
    finished: bool
    """Whether none of them has anything left to parse."""


@dataclass(frozen=True)
class ParserCores:
    """What one parser process sees of the sharing (passed to it when it is spawned)."""

    cores: int
    computing: Shared
    """1 while the parser computes, 0 while it waits or has ended."""
    embedding: Shared
    """Threads the embedder computes with now (0: it waits)."""
    found: SharedFloat
    """Work (`ingest.eta.page_work`) of the documents this parser has opened."""
    parsed: SharedFloat
    """Work of the pages it has parsed (or failed), so the ETA sees how far ahead it is."""
    finished: Shared
    """1 once it has nothing more to parse (its jobs are done, or it was stopped)."""

    def ocr_threads(self) -> int:
        """Threads for the next OCR call: the cores the embedder leaves, at least 1."""
        return max(1, self.cores - self.embedding.value)

    def end(self) -> None:
        """The parser computes no more and has nothing left to parse (said by the parser when
        its jobs are done, by the main process when it stops the parser)."""
        self.computing.value = 0
        self.finished.value = 1


class CoreShare:
    """The cores of this machine, the embedder's threads and the flag of every parser started
    in one run."""

    def __init__(self, ctx: BaseContext, cores: int) -> None:
        self.cores = max(1, cores)
        self._ctx = ctx
        self.embedding: Shared = ctx.RawValue("b", 0)
        self._parsers: list[ParserCores] = []

    def parser(self) -> ParserCores:
        """A new parser's view, computing until it says otherwise. Whoever stops a parser calls
        its `end` (a killed process cannot)."""
        flag: Shared = self._ctx.RawValue("b", 1)
        found: SharedFloat = self._ctx.RawValue("d", 0.0)
        parsed: SharedFloat = self._ctx.RawValue("d", 0.0)
        finished: Shared = self._ctx.RawValue("b", 0)
        share = ParserCores(self.cores, flag, self.embedding, found, parsed, finished)
        self._parsers.append(share)
        return share

    def progress(self) -> ParserProgress:
        """How far the parsers of the run are, the stopped ones included."""
        return ParserProgress(
            found=sum(p.found.value for p in self._parsers),
            parsed=sum(p.parsed.value for p in self._parsers),
            finished=all(p.finished.value for p in self._parsers),
        )

    def take(self) -> int:
        """Threads for the embedder's next model batch: the cores no parser computes on, at
        least 1; recorded until `release`."""
        n = max(1, self.cores - sum(p.computing.value for p in self._parsers))
        self.embedding.value = n
        return n

    def release(self) -> None:
        """The embedder waits again."""
        self.embedding.value = 0
