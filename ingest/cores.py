"""Sharing the cores between the parser processes and the embedder while a folder ingests.

The two sides of the pipeline take turns being the slow one: on text pages the parser runs
ahead until its outbox is full (`ingest.queue_pages`) and then waits, idle, for the embedder;
on scanned pages the embedder waits for OCR. A fixed split (one core each on two cores) leaves
a core idle whenever one side waits. Each parser process therefore says in shared memory
whether it is computing, and the embedder takes, before each model batch, the cores the
parsers leave free at that moment (`CoreShare.free`).

Written here rather than taken from a library: the signal is "this parser is blocked on its own
outbox", which only the pipeline knows; the shared flag is one byte of `multiprocessing`
shared memory per parser.

Example:
    >>> share = CoreShare(cores=2)
    >>> flag = share.parser_flag(multiprocessing.get_context("spawn"))  # for the parser
    >>> share.free()  # the parser computes
    1
    >>> flag.value = 0  # it waits on its full outbox
    >>> share.free()
    2
"""

from __future__ import annotations

from multiprocessing.context import BaseContext
from typing import Protocol


class Flag(Protocol):
    """A byte in shared memory: 1 while its parser computes, 0 while it waits or has ended."""

    value: int


class CoreShare:
    """The cores of this machine and the computing flag of every parser started in one run."""

    def __init__(self, cores: int) -> None:
        self.cores = max(1, cores)
        self._flags: list[Flag] = []

    def parser_flag(self, ctx: BaseContext) -> Flag:
        """A new parser's flag (in memory `ctx`'s processes share), computing until it says
        otherwise. Whoever stops a parser sets its flag to 0 (a killed process cannot)."""
        flag: Flag = ctx.RawValue("b", 1)
        self._flags.append(flag)
        return flag

    def free(self) -> int:
        """Cores no parser computes on now, at least 1."""
        return max(1, self.cores - sum(f.value for f in self._flags))
