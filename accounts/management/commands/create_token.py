"""``manage.py create_token``: issue an API token. The raw token goes to stdout, alone."""

import argparse
import datetime as dt
from typing import Any

from django.core.management.base import CommandError, CommandParser

from accounts.models import ApiToken, User
from accounts.services import token_create
from audit.commands import AuditedCommand
from audit.models import Action

MAX_DAYS = 3650
MAX_IDLE_MINUTES = 60 * 24 * 366


def _days(value: str) -> int:
    value = value.strip()
    if not (value.isascii() and value.isdigit() and 1 <= int(value) <= MAX_DAYS):
        raise argparse.ArgumentTypeError(f"must be a whole number of days from 1 to {MAX_DAYS}")
    return int(value)


def _idle_minutes(value: str) -> int:
    value = value.strip()
    if not (value.isascii() and value.isdigit() and 1 <= int(value) <= MAX_IDLE_MINUTES):
        raise argparse.ArgumentTypeError(
            f"must be a whole number of minutes from 1 to {MAX_IDLE_MINUTES}"
        )
    return int(value)


class Command(AuditedCommand):
    audit_action = Action.TOKEN_CREATE
    help = (
        "Issue an API token for an active user. Prints the token alone on stdout, once; "
        "only its SHA-256 digest is stored. The summary goes to stderr."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--email", required=True)
        parser.add_argument(
            "--days", type=_days, help="days until the token expires (default: the setting)"
        )
        parser.add_argument("--name", default="", help="a label to recognise the token")
        parser.add_argument(
            "--idle-minutes",
            type=_idle_minutes,
            help="the token also stops working after this many minutes unused (default: never)",
        )
        parser.add_argument("--dry-run", action="store_true", help="check the user, issue nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        email = options["email"].strip()
        name = options["name"].strip()
        max_name = ApiToken._meta.get_field("name").max_length
        if len(name) > max_name:
            raise CommandError(f"--name is longer than {max_name} characters")
        user = User.objects.filter(email__iexact=email).first()
        if user is None:
            raise CommandError(f"No user with email {email}")
        if not user.is_active:
            raise CommandError(f"User {user.email} is inactive")
        if options["dry_run"]:
            self._note(f"Would create a token for {user.email} (dry run: nothing written)")
            return
        idle = options.get("idle_minutes")
        token, raw = token_create(
            user=user,
            days=options["days"],
            name=name,
            idle_timeout=dt.timedelta(minutes=idle) if idle else None,
        )
        self.audit_token_prefix = token.prefix
        self.stdout.write(raw)
        label = f" {token.name!r}" if token.name else ""
        self._note(
            f"Created token{label} {token.prefix}… for {user.email}, "
            f"expires {token.expires_at:%Y-%m-%d %H:%M} UTC"
        )

    def _note(self, text: str) -> None:
        """Information for the operator: stderr, so stdout carries the token alone."""
        self.stderr.write(text, self.style.SUCCESS)
