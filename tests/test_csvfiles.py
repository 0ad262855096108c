"""The CSV reader of the data commands (``ecm_admin.csvfiles``): records and their first
lines exactly as ``csv.reader`` reads them, each cell checked with the text rule, sizes
bounded, and a file that is not CSV text refused as a whole."""

import csv
import io
import random

import pytest

from ecm_admin import csvfiles
from ecm_admin.csvfiles import CELL_LIMIT, RECORD_LIMIT, CsvFileError, CsvReader, Record


def read(tmp_path, content: bytes | str) -> tuple[list[str], list[Record]]:
    path = tmp_path / "file.csv"
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    with CsvReader(path) as reader:
        return reader.header, list(reader.records())


def reference(text: str) -> list[tuple[int, list[str]]]:
    """(first line, cells) of each non-blank record, as csv.reader reads ``text``."""
    reader = csv.reader(io.StringIO(text, newline=""))
    records, previous = [], 0
    for cells in reader:
        first, previous = previous + 1, reader.line_num
        if cells:
            records.append((first, cells))
    return records


@pytest.mark.parametrize("piece", [1, 2, 3, 7, csvfiles.PIECE])
def test_records_and_their_first_lines_are_those_of_csv_reader(tmp_path, monkeypatch, piece):
    """Random files of quotes, commas, line breaks of every kind and NULs, read a few
    characters at a time (lines longer than a piece) and whole."""
    monkeypatch.setattr(csvfiles, "PIECE", piece)
    alphabet = ["a", "b", " ", ",", '"', "\n", "\r", "\r\n", "\x00"]
    generator = random.Random(piece)
    for _ in range(300):
        header = "h1,h2,h3\n"
        body = "".join(generator.choice(alphabet) for _ in range(generator.randint(0, 40)))
        expected = reference(header + body)[1:]
        _, records = read(tmp_path, header + body)
        got = [
            (record.line, [record.row[name] or "" for name in ("h1", "h2", "h3")])
            for record in records
        ]
        want = [(line, [*cells, "", "", ""][:3]) for line, cells in expected]
        # refused cells (NUL) are handed on empty
        want = [(line, ["" if "\x00" in cell else cell for cell in cells]) for line, cells in want]
        assert got == want, repr(body)
        assert [record.extra for record in records] == [
            max(len(cells) - 3, 0) for _, cells in expected
        ]


def test_a_record_is_numbered_by_its_first_line_after_multi_line_and_refused_ones(tmp_path):
    content = (
        b"name,street\n"
        b'Ann,"12 Oak St\r\nUnit 4"\n'  # lines 2-3
        b"\n"  # 4: blank
        b'Bo\x00b,"1 Elm\n\nSt"\n'  # 5-7: refused (NUL)
        b"Cy,\xe9\n"  # 8: refused (not UTF-8)
        b'Di,"' + b"x" * (RECORD_LIMIT + 10) + b'\n\n"\n'  # 9-11: too long as a whole
        b"Ed,5 Main St"  # 12, no line break at the end
    )

    header, records = read(tmp_path, content)

    assert header == ["name", "street"]
    assert [record.line for record in records] == [2, 5, 8, 9, 12]
    ann, bob, cy, di, ed = records
    assert ann.row == {"name": "Ann", "street": "12 Oak St\r\nUnit 4"}
    assert bob.problems == {"name": "must not contain NUL characters"}
    assert bob.row == {"name": "", "street": "1 Elm\n\nSt"}
    assert cy.problems == {"street": "must not contain bytes that are not valid UTF-8 (0xE9)"}
    assert (di.row, di.refused) == ({}, "the row is longer than 1,048,576 characters")
    assert ed.row == {"name": "Ed", "street": "5 Main St"}


@pytest.mark.parametrize(
    ("cell", "problem"),
    [
        (b"Jos\xe9", "must not contain bytes that are not valid UTF-8 (0xE9)"),
        (b"\xed\xa0\x80", "must not contain bytes that are not valid UTF-8 (0xED 0xA0 0x80)"),
        (b"a\x00b", "must not contain NUL characters"),
        (b"bell\x07", "must not contain control characters"),
        ("\ufffe".encode(), "must not contain Unicode non-characters"),
        (b"x" * (CELL_LIMIT + 1), "is longer than 1,000 characters"),
        (b'"' + b"y" * 100_000 + b'"', "is longer than 1,000 characters"),
    ],
)
def test_each_refused_cell_is_named_with_its_column_and_handed_on_empty(tmp_path, cell, problem):
    _, records = read(tmp_path, b"a,b,c\n1," + cell + b",3\n4,5,6\n")

    assert records[0].problems == {"b": problem}
    assert records[0].row == {"a": "1", "b": "", "c": "3"}
    assert records[1] == Record(3, {"a": "4", "b": "5", "c": "6"})


def test_accepted_text_is_kept_as_it_is(tmp_path):
    row = 'Zoë,O\'Brien-Smith,"tab\there, ""quoted""",中文 😀,Ünïcödé'
    _, records = read(tmp_path, "a,b,c,d,e\n" + row + "\n")

    assert records == [
        Record(
            2,
            {
                "a": "Zoë",
                "b": "O'Brien-Smith",
                "c": 'tab\there, "quoted"',
                "d": "中文 😀",
                "e": "Ünïcödé",
            },
        )
    ]


def test_count_is_the_number_of_records_after_the_header(tmp_path):
    path = tmp_path / "file.csv"
    path.write_bytes(b'\nh\n1\n\n"2\n2"\n\xff\n' + b"z" * (RECORD_LIMIT + 1))
    with CsvReader(path) as reader:
        assert reader.count() == 4
        assert len(list(reader.records())) == 4


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "Cannot read file.csv: no such file"),
        (b"", "file.csv is empty: a header row is required"),
        (b"\n\r\n", "file.csv is empty: a header row is required"),
        (
            "member_id,name\n".encode("utf-16"),
            "file.csv line 1 (the header) must not contain NUL characters: "
            "is it a CSV file saved as UTF-8?",
        ),
        (
            b"PK\x03\x04\x14",
            "file.csv line 1 (the header) must not contain control characters: "
            "is it a CSV file saved as UTF-8?",
        ),
        (b"a" * (RECORD_LIMIT + 1), "file.csv line 1 (the header) is longer than 1,048,576"),
        (
            b"\xef\xbb\xbfmember_id,Jos\xe9\n",
            "file.csv line 1 (the header) must not contain bytes that are not valid UTF-8 "
            "(0xE9): is it a CSV file saved as UTF-8?",
        ),
    ],
)
def test_a_file_that_is_not_csv_text_is_refused_as_a_whole(tmp_path, monkeypatch, content, message):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "file.csv"
    if content is not None:
        path.write_bytes(content)

    with pytest.raises(CsvFileError) as info:
        CsvReader("file.csv").__enter__()

    assert str(info.value).startswith(message)


def test_the_header_is_trimmed_and_lower_case_without_a_byte_order_mark(tmp_path):
    header, records = read(tmp_path, "\ufeff Member_ID ,NAME\nM1,Ann\n")

    assert header == ["member_id", "name"]
    assert records == [Record(2, {"member_id": "M1", "name": "Ann"})]
