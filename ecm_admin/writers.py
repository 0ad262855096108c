"""Writer threads for the commands that write many care-team rows (``bulk_assign_lcms``,
``plan_caseloads``, ``transfer_caseload``; the importers write on one connection).

On PostgreSQL a command can split a chunk of independent rows (different patients) between
several writers: threads with a database connection each, each writing its
part in a transaction of its own. The database then works on both cores while the command's
Python prepares and formats rows, instead of one waiting for the other.

One writer, run inline in the calling thread, on SQLite (one writer at a time) and inside a
caller's transaction (other connections could not see its uncommitted rows, and its writes
must stay in it).

    with Writers(writer_count()) as writers:
        futures = [writers.submit(index, write, part) for index, part in enumerate(parts)]
        outcomes, failure = writers.results(futures)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import ExitStack
from typing import Any

from django.db import connection

# Writers working on one chunk at the same time (PostgreSQL, outside a transaction).
WRITERS = 2


def writer_count(wanted: int = WRITERS) -> int:
    """``wanted`` on PostgreSQL outside a transaction; 1 elsewhere."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return 1
    return wanted


class Writers:
    """``count`` writer threads, each with its own connection, closed by that thread when the
    block ends. With ``count == 1`` nothing is started: work runs in the calling thread.

    Work given to one writer runs in the order given, one piece after the other; so the rows
    of one record, always given to the same writer, are written in order.
    """

    def __init__(self, count: int, *, name: str = "writer"):
        self.count = count
        self._name = name
        self._stack = ExitStack()
        self._threads: list[ThreadPoolExecutor] = []

    def __enter__(self) -> Writers:
        if self.count > 1:
            for number in range(self.count):
                executor = ThreadPoolExecutor(1, thread_name_prefix=f"{self._name}-{number}")
                self._stack.enter_context(executor)
                # Registered after the executor, so run first: the connection is closed by
                # its own thread before the thread stops.
                self._stack.callback(_close_connection_in, executor)
                self._threads.append(executor)
        return self

    def __exit__(self, *exc_info) -> None:
        self._stack.close()

    def submit(self, index: int, work: Callable[..., Any], *args: Any) -> Future:
        """Run ``work(*args)`` in writer ``index`` (inline when there is one writer: the
        returned future is then done, holding the result or the exception)."""
        if self.count > 1:
            return self._threads[index].submit(work, *args)
        future: Future = Future()
        try:
            future.set_result(work(*args))
        except BaseException as exc:  # a Ctrl-C during the work too: it failed
            future.set_exception(exc)
        return future

    @staticmethod
    def results(futures: Sequence[Future]) -> tuple[list[Any], BaseException | None]:
        """Every future's result in order (``None`` for one that failed), once all are done,
        and the first failure.

        A Ctrl-C while waiting does not abandon the writers: their transactions are under way
        and end either way, so they are waited for and what they did is returned, with the
        interruption as the failure. A second Ctrl-C stops waiting.
        """
        failure: BaseException | None = None
        interrupted: KeyboardInterrupt | None = None
        outcomes = []
        for future in futures:
            while not future.done():
                try:
                    wait([future])
                except KeyboardInterrupt as exc:  # the wait was interrupted, not the work
                    if interrupted is not None:
                        raise
                    interrupted = exc
            try:
                outcomes.append(future.result())
            except BaseException as exc:
                outcomes.append(None)
                failure = failure or exc
        return outcomes, interrupted or failure


def _close_connection_in(executor: ThreadPoolExecutor) -> None:
    executor.submit(_close_connection).result()


def _close_connection() -> None:
    connection.close()  # the calling thread's own connection
