"""``manage.py import_members FILE.csv [--dry-run]``: the ECM eligibility feed."""

from patients.importers import import_members
from patients.importers.command import CsvImportCommand


class Command(CsvImportCommand):
    help = "Import the ECM eligibility feed: upsert patients and eligibility by member_id."
    label = "members"
    importer = staticmethod(import_members)
