"""The Django admin's sign-in, under the same failure limits as ``POST /v1/auth/tokens``.

``AdminLoginForm`` (the admin site's ``login_form``, set in ``ecm_admin.admin_site``) runs every
attempt through ``accounts.throttling.SignInGate``: the same counters per email and per client
address, the same limit and window. ``admin_login`` (routed at ``/admin/login/`` ahead of the
admin's own URLs) answers a refused attempt with the sign-in page, status 429, a
``Retry-After`` header and a sentence that says how long to wait. Failed sign-ins are audited as
before (``audit.signals``: ``auth_failed``); a refused one is audited as ``rate_limited``.
"""

import logging
import math

from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError
from django.db import DatabaseError
from django.http import HttpResponse

from accounts.counters import CountersUnavailable
from accounts.throttling import SignInGate
from audit.models import Action, Source
from audit.services import request_event_record

logger = logging.getLogger("audit")

REFUSED_FOR = "_admin_sign_in_refused_for"


def locked_sentence(wait: float) -> str:
    minutes = max(1, math.ceil(wait / 60))
    unit = "minute" if minutes == 1 else "minutes"
    return (
        "Too many failed sign-ins for this email or from this address. "
        f"Try again in {minutes} {unit}."
    )


class AdminLoginForm(AdminAuthenticationForm):
    """The admin's login form, counting failures like the API's sign-in.

    A wrong password, an inactive user and a user who is not staff are failures alike (the
    form says the same sentence for all three).
    """

    def clean(self):
        email = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if email is None or not password:
            return super().clean()
        gate = SignInGate(self.request, email)
        wait = gate.admit()
        if wait is not None:
            self._refuse(wait)
            _audit_refusal(self.request)
            raise ValidationError(locked_sentence(wait), code="too_many_failures")
        try:
            cleaned = super().clean()
        except ValidationError:
            wait = gate.failed()
            if wait is None:
                raise
            # A known email past its address's limit: failed (and audited by the signal as
            # such), and answered like every attempt from that address now.
            self._refuse(wait)
            raise ValidationError(locked_sentence(wait), code="too_many_failures") from None
        gate.succeeded()
        return cleaned

    def _refuse(self, wait: float) -> None:
        setattr(self.request, REFUSED_FOR, wait)


def _audit_refusal(request) -> None:
    try:
        request_event_record(
            request, source=Source.ADMIN, action=Action.RATE_LIMITED, status_code=429
        )
    except DatabaseError:
        logger.exception("access event not recorded (admin sign-in refused)")


def admin_login(request, extra_context=None):
    """The admin site's login view; a refused attempt gets status 429 and ``Retry-After``."""
    try:
        response = admin.site.login(request, extra_context)
    except CountersUnavailable as exc:
        return HttpResponse(str(exc.detail), status=503, content_type="text/plain")
    wait = getattr(request, REFUSED_FOR, None)
    if wait is not None:
        response.status_code = 429
        response["Retry-After"] = str(int(wait))
    return response
