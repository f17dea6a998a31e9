from __future__ import annotations

import multiprocessing as mp
import multiprocessing.synchronize

from ingest.cores import CoreShare, ParserCores


def _wait_then_compute(share: ParserCores, go: multiprocessing.synchronize.Event) -> None:
    share.computing.value = 0  # waiting on a full outbox
    go.wait(10)
    share.computing.value = 1  # computing again


def test_each_side_takes_the_cores_the_other_leaves() -> None:
    share = CoreShare(mp.get_context("spawn"), cores=4)
    assert share.take() == 4  # no parser yet
    a, b = share.parser(), share.parser()
    assert share.take() == 2
    assert a.ocr_threads() == 2 and b.ocr_threads() == 2  # the embedder holds 2
    a.computing.value = 0
    assert share.take() == 3
    assert a.ocr_threads() == 1
    share.release()  # the embedder waits: a parser may OCR on every core
    assert a.ocr_threads() == 4
    b.computing.value = 0
    assert share.take() == 4

    one = CoreShare(mp.get_context("spawn"), cores=1)
    p = one.parser()
    assert one.take() == 1 and p.ocr_threads() == 1  # each side always has a thread


def test_a_parser_process_is_seen_by_this_process_and_sees_the_embedder() -> None:
    ctx = mp.get_context("spawn")
    share = CoreShare(ctx, cores=2)
    parser = share.parser()
    go = ctx.Event()
    p = ctx.Process(target=_wait_then_compute, args=(parser, go))
    p.start()
    try:
        for _ in range(200):
            if share.take() == 2:
                break
            p.join(0.05)
        assert share.take() == 2 and share.embedding.value == 2
        go.set()
        p.join(10)
        assert p.exitcode == 0
        assert share.take() == 1
    finally:
        p.kill()


def test_progress_sums_every_parser_and_is_finished_when_all_are() -> None:
    share = CoreShare(mp.get_context("spawn"), cores=2)
    assert share.progress() == (0.0, 0.0, True)  # no parser: nothing left to parse
    a, b = share.parser(), share.parser()
    a.found.value, a.parsed.value = 10.0, 4.0
    b.found.value, b.parsed.value = 5.0, 5.0
    b.finished.value = 1
    assert share.progress() == (15.0, 9.0, False)
    a.finished.value = 1
    assert share.progress().finished
