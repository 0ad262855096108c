"""The chunked runner: records in, chunk by chunk, in file order.

Each chunk is validated (Python work only) a chunk ahead, in a worker thread, while the
previous one is written: waiting for the database releases the GIL, so the two overlap on a
multi-core machine. A crash loses at most the chunk in progress; a bad row is reported with
its line number and skipped.

On PostgreSQL a chunk's valid rows are written by two writers (``ecm_admin.writers``), the
first half of its lines by one and the second half by the other, each in its own
transaction; everything about that split (and about a chunk of which only a part landed) is
in this module, ``_write_chunk``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import islice

from ecm_admin.csvfiles import Record
from ecm_admin.writers import Writers, writer_count
from patients.importers.base import ChunkImporter, Validated
from patients.importers.report import ImportInterrupted, ImportReport

CHUNK_SIZE = 2000


def run(
    importer: ChunkImporter,
    records: Iterable[Record],
    *,
    chunk_size: int,
    on_progress: Callable[[int], None] | None,
) -> ImportReport:
    """Import the records chunk by chunk, in file order.

    Raises ImportFileError for the header, ImportInterrupted when reading, validating or
    writing a chunk fails (with what landed before).
    """
    report = ImportReport(dry_run=importer.dry_run)
    report.ignored_columns = importer.check_header(importer.header)
    chunks = _chunks(records, chunk_size)
    next_line = 1  # the first line not written yet (for an interruption between chunks)
    with (
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="import-validate") as worker,
        Writers(writer_count(), name="import-write") as writers,
    ):
        pending = worker.submit(_read_and_validate, importer, chunks)
        while True:
            try:
                prepared = pending.result()
            except BaseException as exc:  # reading the file failed, or a Ctrl-C
                pending.cancel()
                raise ImportInterrupted(report, next_line, exc) from exc
            if prepared is None:
                break
            chunk, validated = prepared
            pending = worker.submit(_read_and_validate, importer, chunks)
            if isinstance(validated, BaseException):
                raise ImportInterrupted(report, chunk[0].line, validated) from validated
            _write_chunk(importer, writers, chunk, validated, report)
            next_line = chunk[-1].line + 1
            if on_progress is not None:
                on_progress(len(chunk))
    return report


def _chunks(records: Iterable[Record], size: int) -> Iterator[list[Record]]:
    iterator = iter(records)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _read_and_validate(
    importer: ChunkImporter, chunks: Iterator[list[Record]]
) -> tuple[list[Record], Validated | BaseException] | None:
    """The next chunk and its validation (or what validating it raised); None at the end.

    An error reading the records propagates as it is.
    """
    chunk = next(chunks, None)
    if chunk is None:
        return None
    try:
        return chunk, importer.validate(chunk)
    except Exception as exc:
        return chunk, exc


def _write_chunk(
    importer: ChunkImporter,
    writers: Writers,
    chunk: list[Record],
    validated: Validated,
    report: ImportReport,
) -> None:
    """Write one chunk's valid rows, split in consecutive parts between the writers, and add
    its outcome to ``report``; or raise ``ImportInterrupted``.

    The rows of a chunk are distinct records (a record twice in a file is reported, not
    written), so the parts never touch the same rows. A part that fails is rolled back; the
    others are written, and reported with the lines that were not.
    """
    valid, outcome = validated
    size = -(-len(valid) // writers.count) or 1
    parts = [valid[start : start + size] for start in range(0, len(valid), size)] or [[]]
    futures = [
        writers.submit(index, importer.write, Validated(part, ImportReport(importer.dry_run)))
        for index, part in enumerate(parts)
    ]
    outcomes, failure = writers.results(futures)
    # Lines of each part: from its first row (the chunk's first line for the first part) to
    # the line before the next part's first row (the chunk's last line for the last part).
    starts = [chunk[0].line, *(part[0][0] for part in parts[1:])]
    ends = [start - 1 for start in starts[1:]] + [chunk[-1].line]
    failed = [index for index, part_outcome in enumerate(outcomes) if part_outcome is None]
    unwritten = [(starts[index], ends[index]) for index in failed]
    landed = ImportReport(importer.dry_run)
    landed.errors = [
        error
        for error in outcome.errors
        if not any(first <= error.line <= last for first, last in unwritten)
    ]
    for part_outcome in outcomes:
        if part_outcome is not None:
            landed.add(part_outcome)
    landed.errors.sort(key=lambda error: error.line)
    report.add(landed)
    if failure is None:
        return
    if not failed:  # a Ctrl-C while the writers finished the chunk
        raise ImportInterrupted(report, chunk[-1].line + 1, failure) from failure
    message = None  # the failed parts are the last ones: nothing from the first one's line on
    if failed != list(range(failed[0], len(parts))):
        ranges = ", ".join(f"{first}-{last}" for first, last in unwritten)
        message = f"lines {ranges} and everything after line {ends[-1]} were not written"
    raise ImportInterrupted(report, unwritten[0][0], failure, unwritten=message) from failure
