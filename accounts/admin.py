"""Django admin for users, roles and API tokens. Writes go through ``accounts.services``.

Roles are saved by ``user_set_roles``; a token is issued by ``token_create`` and its raw
value is shown once, in the message after creation; only its digest is stored, never shown.
"""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import get_permission_codename
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.contrib.auth.models import Group
from django.db.models import Count
from django.utils import timezone
from django.utils.html import format_html

from accounts.choices import RoleName
from accounts.models import ApiToken, Role, User
from accounts.services import token_create, tokens_revoke_by_id, user_set_roles
from care_team.admin_transfer import TransferCaseloadMixin
from ecm_admin.admin_site import ReadOnlyAdminMixin, adopt
from patients.forms import RuledModelForm

MAX_TOKEN_DAYS = 366

# Autocomplete fields (app, model, field) that offer only active users holding a role.
ROLE_AUTOCOMPLETES = {
    ("care_team", "caseload", "olcm"): RoleName.ECM,
    ("care_team", "caseload", "ilcm"): RoleName.ECM,
    ("care_team", "caseload", "provider"): RoleName.PROVIDER,
}


def roles_field() -> forms.ModelMultipleChoiceField:
    return forms.ModelMultipleChoiceField(
        queryset=Role.objects.all(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Roles",
        help_text="admin: may call the API; ecm: may be a Lead Care Manager; "
        "provider: may be a primary provider.",
    )


class UserAddForm(RuledModelForm, AdminUserCreationForm):
    assigned_roles = roles_field()

    class Meta:
        model = User
        fields = ("email", "first_name", "last_name")

    def clean_email(self):
        return self.cleaned_data["email"].strip().lower()


class UserEditForm(RuledModelForm, UserChangeForm):
    assigned_roles = roles_field()

    class Meta:
        model = User
        fields = ("email", "first_name", "last_name")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["assigned_roles"] = [role.pk for role in self.instance.roles.all()]

    def clean_email(self):
        return self.cleaned_data["email"].strip().lower()


# Groups grant nothing here (see accounts.backends).
admin.site.unregister(Group)


class ApiTokenInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = ApiToken
    fields = ("prefix", "name", "created_at", "last_used_at", "expires_at", "revoked_at")
    readonly_fields = fields
    extra = 0
    show_change_link = True


@admin.register(User)
class UserAdmin(TransferCaseloadMixin, DjangoUserAdmin):
    form = UserEditForm
    add_form = UserAddForm
    list_display = ("email", "name", "role_list", "is_active", "is_staff", "last_login")
    list_filter = ("is_active", "is_staff", "is_superuser", "roles")
    search_fields = ("email", "first_name", "last_name")
    ordering = ("last_name", "first_name", "id")
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Personal info", {"fields": ("first_name", "last_name")}),
        ("Roles", {"fields": ("assigned_roles",)}),
        # Django admin access follows the roles (accounts.backends); groups and per-user
        # permissions are not used, so they are not offered.
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser")}),
        ("Important dates", {"fields": ("last_login", "created_at", "updated_at")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": (
                    "email",
                    "first_name",
                    "last_name",
                    "assigned_roles",
                    "usable_password",
                    "password1",
                    "password2",
                ),
            },
        ),
    )
    readonly_fields = ("last_login", "created_at", "updated_at")
    inlines = (ApiTokenInline,)

    def get_inlines(self, request, obj):
        return self.inlines if obj else ()

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("roles")

    @admin.display(description="roles")
    def role_list(self, obj):
        return ", ".join(obj.role_names())

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        roles = [role.name for role in form.cleaned_data["assigned_roles"]]
        user_set_roles(user=form.instance, roles=roles)

    def has_view_permission(self, request, obj=None):
        # The care-team pickers look users up here: whoever may change case loads may find
        # the users they can assign (active holders of the role; id and name only), without
        # seeing the users' pages.
        if obj is None and _role_autocomplete(request) is not None:
            return request.user.has_perm("care_team.change_caseload")
        return super().has_view_permission(request, obj)

    def get_search_results(self, request, queryset, search_term):
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        role = _role_autocomplete(request)
        if role is not None:
            queryset = queryset.with_role(role).filter(is_active=True)
        return queryset, may_have_duplicates


def _role_autocomplete(request) -> str | None:
    """The role an autocomplete request of a care-team picker looks for, else ``None``."""
    match = request.resolver_match
    if match is None or match.url_name != "autocomplete":
        return None
    return ROLE_AUTOCOMPLETES.get(
        (request.GET.get("app_label"), request.GET.get("model_name"), request.GET.get("field_name"))
    )


@admin.register(Role)
class RoleAdmin(admin.ModelAdmin):
    list_display = ("name", "description", "user_count")
    search_fields = ("name", "description")

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(user_count=Count("user_roles"))

    @admin.display(description="users", ordering="user_count")
    def user_count(self, obj):
        return obj.user_count

    def get_readonly_fields(self, request, obj=None):
        # The service gives these names a meaning; renaming one would silently revoke it.
        return ("name",) if obj and obj.name in RoleName.values else ()

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.name in RoleName.values:
            return False
        return super().has_delete_permission(request, obj)


class ApiTokenCreateForm(forms.ModelForm):
    days = forms.IntegerField(
        min_value=1,
        max_value=MAX_TOKEN_DAYS,
        initial=lambda: settings.API_TOKEN_DEFAULT_DAYS,
        help_text="The token expires after this many days.",
    )

    class Meta:
        model = ApiToken
        fields = ("user", "name")


class TokenStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("live", "Live"), ("expired", "Expired"), ("revoked", "Revoked")]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "live":
            return queryset.filter(revoked_at__isnull=True, expires_at__gt=now)
        if self.value() == "expired":
            return queryset.filter(revoked_at__isnull=True, expires_at__lte=now)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are issued here and revoked with the action; a stored token is never edited."""

    add_form = ApiTokenCreateForm
    add_fields = ("user", "name", "days")
    fields = (
        "prefix",
        "name",
        "user",
        "kind",
        "created_at",
        "expires_at",
        "idle_timeout",
        "last_used_at",
        "revoked_at",
    )
    list_display = (
        "prefix",
        "name",
        "user",
        "kind",
        "state",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
    )
    list_select_related = ("user",)
    list_filter = (TokenStateFilter, "created_at")
    search_fields = ("prefix", "name", "user__email", "user__first_name", "user__last_name")
    autocomplete_fields = ("user",)
    actions = ("revoke",)

    def get_fields(self, request, obj=None):
        return self.fields if obj else self.add_fields

    def get_readonly_fields(self, request, obj=None):
        return self.fields if obj else ()

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = self.add_form
        return super().get_form(request, obj, **kwargs)

    def has_change_permission(self, request, obj=None):
        return False

    def has_revoke_permission(self, request):
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.{get_permission_codename('change', opts)}")

    @admin.display(description="state")
    def state(self, obj):
        if obj.is_revoked:
            return "Revoked"
        if obj.is_expired():
            return "Expired"
        return "Idle" if obj.is_idle(timezone.now()) else "Live"

    def save_model(self, request, obj, form, change):
        token, raw = token_create(user=obj.user, days=form.cleaned_data["days"], name=obj.name)
        adopt(obj, token)
        self.message_user(
            request,
            format_html(
                "New API token for {}: <code>{}</code> — copy it now: it is shown only once.",
                token.user,
                raw,
            ),
            messages.SUCCESS,
        )

    @admin.action(description="Revoke the selected API tokens", permissions=["revoke"])
    def revoke(self, request, queryset):
        selected = list(queryset.values_list("pk", flat=True))
        revoked = tokens_revoke_by_id(token_ids=selected)
        message = f"Revoked {revoked} API token{'' if revoked == 1 else 's'}"
        if revoked < len(selected):
            message += f"; {len(selected) - revoked} already revoked"
        self.message_user(request, message + ".", messages.SUCCESS)
