from rest_framework import permissions

from accounts.choices import RoleName


class IsAdminRole(permissions.BasePermission):
    """The global default: the authenticated user must hold the ``admin`` role."""

    message = "Admin access required"

    def has_permission(self, request, view) -> bool:
        user = request.user
        if user is None or not getattr(user, "is_authenticated", False):
            return False
        is_admin = getattr(user, "is_api_admin", None)
        if is_admin is None:
            is_admin = user.has_role(RoleName.ADMIN)
        return bool(is_admin)
