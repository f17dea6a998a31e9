"""An answer as a stream of events, the one form every front end consumes (the CLI prints it,
the REST service sends it as server-sent events):

    status* token* (status | token)* sentence* citation* answer

`status`: a one-line note (route, prefill); `token`: a piece of answer text as it is generated;
then, once the citation check is done, each checked `sentence` with its verdict, each
`citation` with its page and quote, and last the whole `answer` (the same `Answer` as
`docqa ask --json`). An error ends the stream by raising from the iterator.

`Answerer.ask` reports through callbacks; the stream runs it in a worker thread and hands its
callbacks' values over a queue. Closing the iterator early (a client that went away) stops the
generation at its next token.

Example:
    >>> for event in answer_events(answerer, "What was revenue in 2024?"):  # doctest: +SKIP
    ...     if event.type == "token":
    ...         print(event.text, end="")
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Sequence
from typing import Literal

from pydantic import BaseModel

from docqa.answer.answerer import Answerer
from docqa.types import Answer, AnswerSentence, Citation, Document, StrategyChoice


class StatusEvent(BaseModel):
    type: Literal["status"] = "status"
    text: str


class TokenEvent(BaseModel):
    type: Literal["token"] = "token"
    text: str


class SentenceEvent(BaseModel):
    type: Literal["sentence"] = "sentence"
    sentence: AnswerSentence


class CitationEvent(BaseModel):
    type: Literal["citation"] = "citation"
    citation: Citation


class AnswerEvent(BaseModel):
    type: Literal["answer"] = "answer"
    answer: Answer


AnswerStreamEvent = StatusEvent | TokenEvent | SentenceEvent | CitationEvent | AnswerEvent


class AnswerCancelledError(RuntimeError):
    """The consumer of an answer stream went away before the answer was finished."""


_DONE = object()


def answer_events(
    answerer: Answerer,
    question: str,
    docs: Sequence[Document] | None = None,
    strategy: StrategyChoice | None = None,
) -> Generator[AnswerStreamEvent, None, None]:
    """The events of one answer (see the module doc). Errors of `Answerer.ask`
    (`AnswerError`, `DoesNotFitError`, `GenerationError`...) are raised from the iterator."""
    events: queue.Queue[object] = queue.Queue()
    cancelled = threading.Event()

    def put(event: object) -> None:
        if cancelled.is_set():
            raise AnswerCancelledError("the answer's consumer went away")
        events.put(event)

    def work() -> None:
        try:
            answer = answerer.ask(
                question,
                docs,
                strategy,
                on_text=lambda piece: put(TokenEvent(text=piece)),
                on_status=lambda line: put(StatusEvent(text=line)),
            )
            events.put(answer)
        except BaseException as e:  # handed to the consumer, raised there
            events.put(e)
        finally:
            events.put(_DONE)

    worker = threading.Thread(target=work, name="docqa-answer", daemon=True)
    worker.start()
    try:
        # (a cancelled worker's AnswerCancelledError comes after the consumer left: never read)
        while (item := events.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            if isinstance(item, Answer):
                yield from (SentenceEvent(sentence=s) for s in item.sentences)
                yield from (CitationEvent(citation=c) for c in item.citations)
                yield AnswerEvent(answer=item)
            else:
                assert isinstance(item, StatusEvent | TokenEvent)
                yield item
    finally:
        cancelled.set()
        worker.join()
