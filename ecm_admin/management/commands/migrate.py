"""Django's ``migrate``, run without the statement timeout (``ecm_admin.db_timeouts``): a
migration on a large table (an index, a data migration) may take longer than any request."""

from django.core.management.commands.migrate import Command as DjangoMigrateCommand

from ecm_admin.db_timeouts import statement_timeout_lifted


class Command(DjangoMigrateCommand):
    help = f"{DjangoMigrateCommand.help} Runs without the database's statement timeout."

    def handle(self, *args, **options):
        with statement_timeout_lifted(options["database"]):
            return super().handle(*args, **options)
