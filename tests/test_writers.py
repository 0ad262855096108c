"""ecm_admin.writers: writer threads for the bulk commands (their use: the import and
bulk-assignment tests)."""

import threading
from concurrent.futures import Future

import pytest

from ecm_admin import writers as module
from ecm_admin.writers import Writers


def test_one_writer_runs_inline_and_keeps_the_failure_in_its_future():
    with Writers(1) as writers:
        done = writers.submit(0, threading.get_ident)
        failed = writers.submit(0, lambda: 1 / 0)
    assert done.result() == threading.get_ident()
    outcomes, failure = Writers.results([done, failed])
    assert outcomes == [threading.get_ident(), None]
    assert isinstance(failure, ZeroDivisionError)


def test_each_writer_is_a_thread_of_its_own_and_runs_its_work_in_order():
    seen: list[tuple[int, int]] = []  # (piece of work, thread that ran it)
    with Writers(2) as writers:
        futures = [
            writers.submit(n % 2, lambda n=n: seen.append((n, threading.get_ident())))
            for n in range(6)
        ]
        Writers.results(futures)
    threads = {thread: [n for n, ran_in in seen if ran_in == thread] for _, thread in seen}
    assert len(threads) == 2
    assert threading.get_ident() not in threads
    # Each writer's work, in the order given, in the thread of that writer.
    assert sorted(threads.values()) == [[0, 2, 4], [1, 3, 5]]


def test_a_ctrl_c_while_waiting_still_waits_for_the_writers(monkeypatch):
    """The writers' transactions are under way: their results are collected, and the
    interruption is the failure returned. A second Ctrl-C stops waiting."""
    pending: Future = Future()
    interrupts = iter([KeyboardInterrupt()])

    def wait(futures):
        if (interrupt := next(interrupts, None)) is not None:
            pending.set_result("written")  # the writer finishes meanwhile
            raise interrupt

    monkeypatch.setattr(module, "wait", wait)
    outcomes, failure = Writers.results([pending])
    assert outcomes == ["written"]
    assert isinstance(failure, KeyboardInterrupt)

    def interrupted(futures):
        raise KeyboardInterrupt

    monkeypatch.setattr(module, "wait", interrupted)
    with pytest.raises(KeyboardInterrupt):
        Writers.results([Future()])  # a writer that does not finish: the second Ctrl-C ends it
