from __future__ import annotations

import multiprocessing as mp
from multiprocessing.context import BaseContext

from ingest.cores import CoreShare, Flag


def _wait_then_end(flag: Flag, go: mp.synchronize.Event) -> None:
    flag.value = 0  # waiting on a full outbox
    go.wait(10)
    flag.value = 1  # computing again


def test_free_cores_are_those_no_parser_computes_on() -> None:
    ctx: BaseContext = mp.get_context("spawn")
    share = CoreShare(cores=4)
    assert share.free() == 4
    a, b = share.parser_flag(ctx), share.parser_flag(ctx)
    assert share.free() == 2
    a.value = 0
    assert share.free() == 3
    b.value = 0
    assert share.free() == 4
    one = CoreShare(cores=1)
    one.parser_flag(ctx)
    assert one.free() == 1  # the embedder always has a thread


def test_a_parser_process_flag_is_seen_by_this_process() -> None:
    ctx = mp.get_context("spawn")
    share = CoreShare(cores=2)
    flag = share.parser_flag(ctx)
    go = ctx.Event()
    p = ctx.Process(target=_wait_then_end, args=(flag, go))
    p.start()
    try:
        for _ in range(200):
            if share.free() == 2:
                break
            p.join(0.05)
        assert share.free() == 2
        go.set()
        p.join(10)
        assert p.exitcode == 0
        assert share.free() == 1
    finally:
        p.kill()
