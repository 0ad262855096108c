"""``manage.py import_authorizations FILE.csv [--dry-run]``: ECM authorizations."""

from patients.importers import import_authorizations
from patients.management.commands.import_members import CsvImportCommand


class Command(CsvImportCommand):
    help = "Import ECM authorizations: upsert by auth_no for existing ECM members."
    label = "authorizations"
    importer = staticmethod(import_authorizations)
