"""The one reader of the CSV files the data commands take (``import_members``,
``import_authorizations``, ``bulk_assign_lcms``): how a file is decoded, split into records,
numbered and checked, the same for all three.

- **Encoding**: UTF-8, with or without the byte-order mark spreadsheets add. A byte that is
  not UTF-8 does not stop the file: it is read as an unpaired surrogate (``surrogateescape``),
  and the cell holding it is refused ("must not contain bytes that are not valid UTF-8
  (0xE9)"), like a cell with a NUL; the other rows are read as usual.
- **Records**: the dialect of ``csv.reader`` (comma; double quotes around a cell that holds
  commas, doubled quotes or line breaks). A record is numbered by its first line in the file,
  whatever its quoted cells span; blank lines are skipped.
- **Text rule**: every cell is checked with ``ecm_admin.text`` before a command sees it. A
  refused cell is handed on as ``""``, with a phrase for its column in ``Record.problems``:
  its value never reaches the database, an output file or a message.
- **Size, with bounded memory**: a cell longer than ``CELL_LIMIT`` characters is refused the
  same way (no column accepts more than a few hundred); a record longer than
  ``RECORD_LIMIT`` characters (all its cells and lines together) is read through without
  being kept and refused as a whole (``Record.refused``). Files are read a line, or
  ``PIECE`` characters of a long line, at a time, so the reader holds at most one record of
  ``RECORD_LIMIT`` characters, and what it hands on at most ``CELL_LIMIT`` per cell.
- **Not a CSV file**: the header row (the first non-blank record) must pass the same checks;
  a file whose first line is not text (a spreadsheet, a UTF-16 export, anything binary) is
  refused as a whole, before any row is read.

    with CsvReader(path) as reader:            # CsvFileError: missing, unreadable, no header
        reader.header                          # the column names, trimmed and lower-case
        for record in reader.records(): ...    # Record(line, row, extra, problems, refused)
"""

from __future__ import annotations

import csv
import functools
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import NamedTuple, TextIO

from ecm_admin.text import SURROGATE, is_safe_text, text_problem

ENCODING = "utf-8-sig"  # UTF-8, with or without the byte-order mark
CELL_LIMIT = 1_000  # characters of one cell
RECORD_LIMIT = 1 << 20  # characters of one record (1 MiB of ASCII text)
PIECE = 1 << 16  # characters read at a time from a line

NO_PROBLEMS: Mapping[str, str] = MappingProxyType({})
TOO_LONG = f"is longer than {CELL_LIMIT:,} characters"
RECORD_TOO_LONG = f"the row is longer than {RECORD_LIMIT:,} characters"
NOT_UTF8 = "must not contain bytes that are not valid UTF-8"


# --- cells of the CSV files the commands write ------------------------------------------

# A cell starting with one of these is read as a formula by spreadsheets.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_cell(value: object) -> str:
    """A value as a cell of a CSV file someone may open in a spreadsheet: ``""`` for
    ``None``, and text a spreadsheet would read as a formula behind an apostrophe."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


class CsvFileError(ValueError):
    """The file cannot be read as a CSV file at all; the message names it."""


class Record(NamedTuple):
    """One record after the header.

    ``row`` maps each header column to its cell (``None`` when the record has fewer cells);
    ``extra`` counts the cells beyond the header's columns; ``problems`` maps a column to
    why its cell was refused (the cell is then ``""`` in ``row``); ``refused`` says why the
    record as a whole was (``row`` is then empty).
    """

    line: int
    row: Mapping[str, str | None]
    extra: int = 0
    problems: Mapping[str, str] = NO_PROBLEMS
    refused: str | None = None


def cell_problem(value: str) -> str | None:
    """Why a cell of a CSV file is refused (a phrase after the column's name), or ``None``.

    The text rule's sentence, except for an unpaired surrogate: in a file read with
    ``surrogateescape`` that can only be a byte that is not UTF-8, and is named as such.
    """
    if len(value) > CELL_LIMIT:
        return TOO_LONG
    problem = text_problem(value)
    if problem != SURROGATE:
        return problem
    invalid = [ord(char) - 0xDC00 for char in value if "\udc80" <= char <= "\udcff"][:4]
    return f"{NOT_UTF8} ({' '.join(f'0x{byte:02X}' for byte in invalid)})"


class CsvReader:
    """A CSV file opened for reading (a context manager), its header read and checked."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.header: list[str] = []
        self._handle: TextIO | None = None
        self._records: Iterator[tuple[int, str | None]] | None = None

    def __enter__(self) -> CsvReader:
        self._handle = _open(self.path)
        try:
            self._records = _split(self._handle, keep=True)
            self.header = self._read_header(self._records)
        except BaseException:
            self._handle.close()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        if self._handle is not None:
            self._handle.close()

    @property
    def name(self) -> str:
        return self.path.name

    def records(self) -> Iterator[Record]:
        """The records after the header, in file order (once)."""
        if self._records is None:
            raise RuntimeError("CsvReader.records() outside its with-block")
        header = self.header
        width = len(header)
        parse = _Parser()
        for line, text in self._records:
            if text is None:
                yield Record(line, {}, refused=RECORD_TOO_LONG)
                continue
            try:
                cells = parse(text)
            except csv.Error as exc:  # not expected: the split above follows csv.reader
                yield Record(line, {}, refused=f"the row is not valid CSV ({exc})")
                continue
            problems: dict[str, str] | None = None
            if len(text) > CELL_LIMIT or not _is_safe(text):
                problems = {}
                for position, cell in enumerate(cells):
                    if problem := cell_problem(cell):
                        cells[position] = ""
                        if position < width:
                            problems[header[position]] = problem
            row: dict[str, str | None] = dict(zip(header, cells, strict=False))
            if len(cells) < width:
                row.update(dict.fromkeys(header[len(cells) :]))
            extra = max(len(cells) - width, 0)
            yield Record(line, row, extra, MappingProxyType(problems) if problems else NO_PROBLEMS)

    def count(self) -> int:
        """The number of records after the header: a pass over the file of its own."""
        with _open(self.path) as handle:
            return max(sum(1 for _ in _split(handle, keep=False)) - 1, 0)  # less the header

    def _read_header(self, records: Iterator[tuple[int, str | None]]) -> list[str]:
        first = next(records, None)
        if first is None:
            raise CsvFileError(f"{self.name} is empty: a header row is required")
        line, text = first
        where = f"{self.name} line {line} (the header)"
        if text is None:
            raise CsvFileError(f"{where} is longer than {RECORD_LIMIT:,} characters: not CSV text")
        try:
            cells = _Parser()(text)
        except csv.Error as exc:
            raise CsvFileError(f"{where} is not valid CSV ({exc})") from None
        for cell in cells:
            if problem := cell_problem(cell):
                raise CsvFileError(f"{where} {problem}: is it a CSV file saved as UTF-8?")
        return [cell.strip().lower() for cell in cells]


def _is_safe(text: str) -> bool:
    """``ecm_admin.text.is_safe_text``, faster for text without characters beyond U+FFFF
    (a CSV file of names and addresses): 3 microseconds for a 200-character record
    instead of 50."""
    if text.isascii() or max(text) <= "\uffff":
        return _refused_bmp().search(text) is None
    return is_safe_text(text)


@functools.cache
def _refused_bmp() -> re.Pattern[str]:
    """One character class of the characters up to U+FFFF the text rule refuses, derived
    from the rule itself (65,536 checks, once per process: a few hundredths of a second)."""
    refused = [code for code in range(0x10000) if not is_safe_text(chr(code))]
    ranges: list[list[int]] = []
    for code in refused:
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    return re.compile("[" + "".join(f"\\u{low:04x}-\\u{high:04x}" for low, high in ranges) + "]")


def _open(path: Path) -> TextIO:
    try:
        return path.open(encoding=ENCODING, errors="surrogateescape", newline="")
    except FileNotFoundError:
        raise CsvFileError(f"Cannot read {path}: no such file") from None
    except OSError as exc:
        raise CsvFileError(f"Cannot read {path}: {exc.strerror or exc}") from None


class _Parser:
    """A record's text as its list of cells, exactly as ``csv.reader`` reads it.

    A record without quotes is split on commas; one with quotes goes through one
    ``csv.reader`` fed a record at a time (the whole record as one string: its line breaks
    are inside quotes, where ``csv.reader`` keeps them).
    """

    def __init__(self):
        if csv.field_size_limit() < RECORD_LIMIT:
            csv.field_size_limit(RECORD_LIMIT)
        self._pending: list[str] = []
        self._reader = csv.reader(self)

    def __iter__(self) -> _Parser:
        return self

    def __next__(self) -> str:
        if not self._pending:
            raise StopIteration
        return self._pending.pop()

    def __call__(self, text: str) -> list[str]:
        if '"' not in text:
            return text.rstrip("\r\n").split(",")
        self._pending.append(text)
        return next(self._reader)


# --- where records end -----------------------------------------------------------------
#
# csv.reader's parser, reduced to what decides where a record ends: a line break ends the
# record unless it is inside a quoted cell. States (a new record starts as START):
START, IN_CELL, IN_QUOTES, QUOTE_IN_QUOTES = range(4)
# The state after a character of each class: any character but a quote or a comma; a quote
# (it opens quotes only at the start of a cell; a doubled one inside quotes is kept); a comma.
_AFTER_OTHER = (IN_CELL, IN_CELL, IN_QUOTES, IN_CELL)
_AFTER_QUOTE = (IN_QUOTES, IN_CELL, QUOTE_IN_QUOTES, IN_QUOTES)
_AFTER_COMMA = (START, START, IN_QUOTES, START)
_QUOTE_OR_COMMA = re.compile('[",]')
# A whole record on one line, quotes included (possessive: a doubled quote is never read as
# a closing one followed by an opening one).
_CELL = r'(?:"(?:[^"]|"")*+"[^,\r\n]*|[^",\r\n][^,\r\n]*|)'
_ONE_LINE = re.compile(rf"{_CELL}(?:,{_CELL})*+")


def _advance(state: int, text: str) -> int:
    """The state after ``text`` (no line break outside quotes), starting in ``state``."""
    position = 0
    for match in _QUOTE_OR_COMMA.finditer(text):
        at = match.start()
        if at > position:
            state = _AFTER_OTHER[state]
        state = (_AFTER_QUOTE if text[at] == '"' else _AFTER_COMMA)[state]
        position = at + 1
    if position < len(text):
        state = _AFTER_OTHER[state]
    return state


def _split(handle: TextIO, *, keep: bool) -> Iterator[tuple[int, str | None]]:
    """``(first line, text)`` of every record, blank lines skipped; ``text`` is ``None`` for
    a record longer than ``RECORD_LIMIT`` (read through, not kept) and when ``keep`` is off.
    """
    lines = 0  # lines read to their end
    parts: list[str] = []  # the record so far (when kept)
    size = 0
    first = 0  # the record's first line; 0 between records
    state = START
    after_cr = False  # the last piece ended with "\r": a "\n" next belongs to it
    while piece := handle.readline(PIECE):
        cut = len(piece) == PIECE  # maybe a piece of a longer line
        if after_cr and piece[0] == "\n":
            if first and keep and size <= RECORD_LIMIT:  # inside quotes: part of a cell
                parts.append("\n")
            piece = piece[1:]
            if not piece:
                after_cr = False
                continue
        ends_line = piece[-1] in "\r\n"
        after_cr = piece[-1] == "\r"
        body = piece.rstrip("\r\n") if ends_line else piece
        if not first:
            if ends_line and '"' not in body:  # the common case: a line of its own
                lines += 1
                if body:
                    yield lines, piece if keep else None
                continue
            first = lines + 1
            if ends_line and _ONE_LINE.fullmatch(body):
                lines += 1
                yield first, piece if keep else None
                first = 0
                continue
        state = _advance(state, body)
        if keep and size <= RECORD_LIMIT:
            size += len(piece)
            parts.append(piece)
            if size > RECORD_LIMIT:
                parts = []
        if ends_line or not cut:  # the line ends here (or the file does)
            lines += 1
            if state != IN_QUOTES or not ends_line:
                yield first, "".join(parts) if keep and size <= RECORD_LIMIT else None
                parts, size, first, state = [], 0, 0, START
    if first:  # the file ends inside quotes, or in a long line read to its end
        yield first, "".join(parts) if keep and size <= RECORD_LIMIT else None
