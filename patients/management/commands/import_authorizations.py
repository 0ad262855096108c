"""``manage.py import_authorizations FILE.csv [--dry-run]``: ECM authorizations."""

from patients.importers import import_authorizations
from patients.importers.command import CsvImportCommand


class Command(CsvImportCommand):
    help = "Import ECM authorizations: upsert by auth_no for existing ECM members."
    label = "authorizations"
    importer = staticmethod(import_authorizations)
