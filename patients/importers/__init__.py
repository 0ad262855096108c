"""Set-based imports of the eligibility feed (members) and of ECM authorizations, from the
records of a CSV file (``ecm_admin.csvfiles``).

- ``columns``: the columns of each file and how a cell is parsed;
- ``base``: validating a record, writing a part of a chunk (what every import does);
- ``runner``: chunk by chunk, validation a chunk ahead, the writers sharing a chunk;
- ``members``, ``authorizations``: how each import compares and writes its rows;
- ``report``: what an import reports, and the exceptions that stop one;
- ``command``: the management commands' common part (the CSV file in, the report out).
"""

from patients.importers.authorizations import import_authorizations
from patients.importers.members import import_members
from patients.importers.report import ImportFileError, ImportInterrupted, ImportReport, RowError
from patients.importers.runner import CHUNK_SIZE

__all__ = [
    "CHUNK_SIZE",
    "ImportFileError",
    "ImportInterrupted",
    "ImportReport",
    "RowError",
    "import_authorizations",
    "import_members",
]
