"""Failed sign-ins to the Django admin are access events too (action ``auth_failed``)."""

import logging

from django.contrib.auth.signals import user_login_failed
from django.db import DatabaseError
from django.dispatch import receiver

from audit.models import Action, Source
from audit.services import request_event_record

logger = logging.getLogger("audit")


@receiver(user_login_failed, dispatch_uid="audit_admin_login_failed")
def admin_login_failed(sender, credentials, request=None, **kwargs):
    # The API's sign-in records its own failures; only the admin's login form lands here.
    if request is None or not request.path_info.startswith("/admin/"):
        return
    try:
        request_event_record(
            request, source=Source.ADMIN, action=Action.AUTH_FAILED, status_code=200
        )
    except DatabaseError:
        logger.exception("access event not recorded (admin sign-in failure)")
