"""``AuditedCommand``: a management command whose every run writes access events.

Source ``cmd:<command name>``, the command's ``audit_action``, exit status 0 or 1 as the
status, and the patient ids the command reports in ``self.audit_patient_ids`` (spread over
events of at most 1,000 ids). ``self.audit_user_id`` is the acting user when the command
knows one (``--actor-email``); ``self.audit_token_prefix`` a token it issued.

The command runs without the database's statement timeout on its own connection (the lock
timeout stays; connections of writer threads keep both: each of their statements writes one
chunk).
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from audit.models import CMD_PREFIX
from audit.services import events_record
from ecm_admin.db_timeouts import statement_timeout_lifted
from ecm_admin.request_context import get_request_id

logger = logging.getLogger("audit")


class AuditedCommand(BaseCommand):
    audit_action: str = ""

    @property
    def audit_name(self) -> str:
        return self.__class__.__module__.rsplit(".", 1)[-1]

    def execute(self, *args: Any, **options: Any):
        self.audit_patient_ids: list[int] = []
        self.audit_user_id: int | None = None
        self.audit_token_prefix = ""
        succeeded = False
        try:
            # Batch work: a statement that merges a whole import's search counts, or reads a
            # year of events, may run longer than a request may (ecm_admin.db_timeouts).
            with statement_timeout_lifted():
                result = super().execute(*args, **options)
            succeeded = True
            return result
        finally:
            self._audit_write(succeeded)

    def _audit_write(self, succeeded: bool) -> None:
        request_id = get_request_id()
        try:
            events_record(
                source=f"{CMD_PREFIX}{self.audit_name}",
                action=self.audit_action,
                user_id=self.audit_user_id,
                token_prefix=self.audit_token_prefix,
                status_code=0 if succeeded else 1,
                request_id="" if request_id == "-" else request_id,
                patient_ids=self.audit_patient_ids,
            )
        except DatabaseError as exc:
            logger.error("access event not recorded (%s)", type(exc).__name__)
            if succeeded:
                # The work is done, but nobody may touch patient data without a record.
                raise CommandError("The access audit record could not be written") from exc
