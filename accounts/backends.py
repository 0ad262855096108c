"""What a staff user may do in the Django admin follows the user's roles: one mapping.

``ROLE_PERMISSIONS`` gives each role Django's model permissions (``app.view_model``,
``app.add_model``, ``app.change_model``); ``RoleBackend``, the authentication backend, answers
the admin's ``has_perm`` and ``has_module_perms`` from it, so no model admin decides on its
own. Only active staff users hold permissions. Superusers may do everything (Django answers
for them before asking any backend). Django's groups and per-user permissions are not used.

- ``admin``: view, add and change patients, their eligibility, authorizations and case loads
  (so every care-team page and action); view the Lead Care Managers' workload and change
  their capacity and availability there; view the append-only history, activities and
  access audit, which nobody edits. Nothing is deleted.
- Users, roles and API tokens: superusers only.
"""

from __future__ import annotations

from collections.abc import Iterable

from asgiref.sync import sync_to_async
from django.apps import apps
from django.contrib.auth.backends import ModelBackend
from django.db.models import Q, QuerySet

from accounts.choices import RoleName

EDIT = ("view", "add", "change")
VIEW = ("view",)


def _permissions(grants: dict[str, tuple[str, ...]]) -> frozenset[str]:
    """``{"app.model": actions}`` as Django permission names (``app.action_model``)."""
    names = set()
    for model, actions in grants.items():
        app_label, model_name = model.split(".")
        names.update(f"{app_label}.{action}_{model_name}" for action in actions)
    return frozenset(names)


ROLE_GRANTS: dict[str, dict[str, tuple[str, ...]]] = {
    RoleName.ADMIN: {
        "patients.patient": EDIT,
        "patients.ecmeligibilityinformation": EDIT,
        "patients.ecmauthorization": EDIT,
        "care_team.caseload": EDIT,
        "patients.ecmstatushistory": VIEW,
        "patients.activity": VIEW,
        "care_team.lcmassignmenthistory": VIEW,
        "audit.accessevent": VIEW,
        # The Workload page: every LCM's load; capacity and availability are edited there.
        "care_team.leadcaremanagerworkload": ("view", "change"),
    },
}
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    role: _permissions(grants) for role, grants in ROLE_GRANTS.items()
}


def role_permissions(role_names: Iterable[str]) -> frozenset[str]:
    """The Django admin permissions the roles give together."""
    return frozenset().union(*(ROLE_PERMISSIONS.get(name, ()) for name in role_names))


class RoleBackend(ModelBackend):
    """Signs users in by email and password (as ``ModelBackend``); permissions from roles."""

    def get_user_permissions(self, user_obj, obj=None) -> set[str]:
        return set()

    def get_group_permissions(self, user_obj, obj=None) -> set[str]:
        return set()

    def get_all_permissions(self, user_obj, obj=None) -> set[str]:
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not user_obj.is_staff:
            return set()
        if not hasattr(user_obj, "_role_perm_cache"):
            user_obj._role_perm_cache = set(role_permissions(user_obj.role_names()))
        return user_obj._role_perm_cache

    async def aget_user_permissions(self, user_obj, obj=None) -> set[str]:
        return set()

    async def aget_group_permissions(self, user_obj, obj=None) -> set[str]:
        return set()

    async def aget_all_permissions(self, user_obj, obj=None) -> set[str]:
        return await sync_to_async(self.get_all_permissions)(user_obj, obj)

    def with_perm(self, perm, is_active=True, include_superusers=True, obj=None) -> QuerySet:
        """The users holding ``perm`` (a ``Permission`` or ``"app.codename"``)."""
        from accounts.models import User

        if not isinstance(perm, str):
            perm = f"{perm.content_type.app_label}.{perm.codename}"
        if obj is not None:
            return User.objects.none()
        roles = [role for role, names in ROLE_PERMISSIONS.items() if perm in names]
        holders = Q(is_staff=True, roles__name__in=roles)
        if include_superusers:
            holders |= Q(is_superuser=True)
        users = User.objects.filter(holders)
        if is_active is not None:
            users = users.filter(is_active=is_active)
        return users.distinct()


def admin_access(role_names: Iterable[str], *, is_staff: bool, is_superuser: bool) -> str:
    """What such a user can do in the Django admin, in a sentence (for ``create_user``)."""
    if not is_staff:
        return "not staff: can't sign in to the Django admin"
    if is_superuser:
        return "superuser: can do everything in the Django admin"
    role_names = sorted(set(role_names))
    granting = [name for name in role_names if name in ROLE_GRANTS]
    if not granting:
        return "staff without the admin role: can sign in to the Django admin but sees nothing"
    granted: dict[str, set[str]] = {}
    for name in granting:
        for model, actions in ROLE_GRANTS[name].items():
            granted.setdefault(model, set()).update(actions)
    by_actions: dict[tuple[str, ...], list[str]] = {}
    for model, actions in granted.items():
        in_order = tuple(action for action in EDIT if action in actions)
        by_actions.setdefault(in_order, []).append(model)
    parts = []
    for actions, models in by_actions.items():
        verbs = "can only view" if actions == VIEW else f"can {_and(list(actions))}"
        plural = [str(apps.get_model(model)._meta.verbose_name_plural) for model in models]
        parts.append(f"{verbs} {_and(plural)}")
    roles = _and(granting) + (" role" if len(granting) == 1 else " roles")
    parts.append("users, roles and API tokens need a superuser")
    return f"staff with the {roles}: {'; '.join(parts)}"


def _and(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"
