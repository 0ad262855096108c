"""``manage.py revoke_tokens``: revoke every token of a user."""

from typing import Any

from django.core.management.base import CommandError, CommandParser

from accounts.models import User
from accounts.services import tokens_revocable, tokens_revoke
from audit.commands import AuditedCommand
from audit.models import Action


class Command(AuditedCommand):
    audit_action = Action.TOKEN_REVOKE
    help = "Revoke all of a user's API tokens (they stop working at once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--email", required=True)
        parser.add_argument(
            "--dry-run", action="store_true", help="report how many would be revoked"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        email = options["email"].strip()
        user = User.objects.filter(email__iexact=email).first()
        if user is None:
            raise CommandError(f"No user with email {email}")
        if options["dry_run"]:
            count = tokens_revocable(user=user).count()
            verb, suffix = "Would revoke", " (dry run: nothing written)"
        else:
            count = tokens_revoke(user=user)
            verb, suffix = "Revoked", ""
        tokens = "token" if count == 1 else "tokens"
        self.stdout.write(f"{verb} {count} {tokens} for {user.email}{suffix}")
