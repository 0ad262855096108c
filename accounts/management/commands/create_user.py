"""``manage.py create_user``: create or update a user by email."""

import os
import re
from typing import Any

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.core.management.base import CommandError, CommandParser

from accounts.backends import admin_access
from accounts.models import Role, User
from accounts.services import user_upsert
from audit.commands import AuditedCommand
from audit.models import Action
from patients.rules import RuleError, rule

ROLE_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]*")


class Command(AuditedCommand):
    audit_action = Action.USER_CHANGE
    help = (
        "Create or update a user by email. The user's roles become exactly --roles, and staff "
        "status exactly --staff. The password, if any, is read from an environment variable."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--email", required=True)
        parser.add_argument("--first-name", required=True)
        parser.add_argument("--last-name", required=True)
        parser.add_argument(
            "--roles", required=True, help='comma-separated role names, e.g. "admin,ecm"'
        )
        parser.add_argument(
            "--staff",
            action="store_true",
            help="may sign in to the Django admin (where the admin role may work; see README)",
        )
        parser.add_argument(
            "--password-from-env",
            metavar="VAR",
            help="name of the environment variable holding the password (never the password)",
        )
        parser.add_argument("--dry-run", action="store_true", help="validate, write nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        email = _email(options["email"])
        first_name = _name("--first-name", options["first_name"], "first_name")
        last_name = _name("--last-name", options["last_name"], "last_name")
        roles = _roles(options["roles"])
        existing = User.objects.filter(email__iexact=email).first()
        password = None
        if options["password_from_env"]:
            password = _password(options["password_from_env"])
            candidate = existing or User(email=email, first_name=first_name, last_name=last_name)
            _validate_password(password, candidate)

        is_superuser = existing is not None and existing.is_superuser
        if options["dry_run"]:
            verb = "Would create" if existing is None else "Would update"
        else:
            try:
                user, created = user_upsert(
                    email=email,
                    first_name=first_name,
                    last_name=last_name,
                    roles=roles,
                    is_staff=options["staff"],
                    password=password,
                )
            except ValidationError as exc:
                raise CommandError("; ".join(exc.messages)) from exc
            verb = "Created" if created else "Updated"
            is_superuser = user.is_superuser
        details = f"roles: {', '.join(roles) or 'none'}"
        if options["staff"]:
            details += "; " + admin_access(roles, is_staff=True, is_superuser=is_superuser)
        suffix = " (dry run: nothing written)" if options["dry_run"] else ""
        self.stdout.write(f"{verb} user {email} ({details}){suffix}")


def _email(value: str) -> str:
    """The address by the rule of users' email addresses, in lower case."""
    try:
        return rule(User, "email").clean(value).lower()
    except RuleError as exc:
        raise CommandError(f"--email {exc.phrase}") from None


def _name(option: str, value: str, field: str) -> str:
    name = value.strip()
    max_length = User._meta.get_field(field).max_length
    if not name:
        raise CommandError(f"{option} can't be blank")
    if len(name) > max_length:
        raise CommandError(f"{option} is longer than {max_length} characters")
    return name


def _roles(value: str) -> list[str]:
    """Sorted, distinct, lower-case role names from a comma-separated list."""
    roles = sorted({name.strip().lower() for name in value.split(",") if name.strip()})
    max_length = Role._meta.get_field("name").max_length
    for role in roles:
        if not ROLE_NAME.fullmatch(role) or len(role) > max_length:
            raise CommandError(
                f"--roles: {role} is not a role name (letters, digits, '_', '.', '-'; "
                f"at most {max_length} characters)"
            )
    return roles


def _password(variable: str) -> str:
    password = os.environ.get(variable)
    if password is None:
        raise CommandError(f"--password-from-env: environment variable {variable} is not set")
    if not password:
        raise CommandError(f"--password-from-env: environment variable {variable} is empty")
    return password


def _validate_password(password: str, user: User) -> None:
    try:
        password_validation.validate_password(password, user)
    except ValidationError as exc:
        raise CommandError("Password rejected: " + " ".join(exc.messages)) from exc
