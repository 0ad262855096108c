import datetime as dt
import hashlib
import secrets

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models import Exists, OuterRef
from django.db.models.functions import Lower
from django.utils import timezone

TOKEN_PREFIX = "ecm_"
# last_used_at is written at most this often per token, so reads do not become writes.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)
# Characters of the raw token kept in clear to recognise it (prefix + 8), never enough to use it.
TOKEN_DISPLAY_CHARS = len(TOKEN_PREFIX) + 8


class Role(models.Model):
    name = models.CharField(max_length=50, unique=True)
    description = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


def holds_role(name: str) -> Exists:
    """Whether the user of the query's row holds the role ``name`` (one probe of the
    ``(role, user)`` index): to filter on (``User.objects.with_role``) or annotate with."""
    return Exists(UserRole.objects.filter(user_id=OuterRef("pk"), role__name=name))


class UserQuerySet(models.QuerySet):
    def with_role(self, name: str) -> "UserQuerySet":
        """The users holding the role ``name``: ``User.objects.with_role(RoleName.ADMIN)``."""
        return self.filter(holds_role(name))


class UserManager(BaseUserManager.from_queryset(UserQuerySet)):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra):
        if not email:
            raise ValueError("Email is required")
        email = self.normalize_email(email).lower()
        user = self.model(email=email, **extra)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra):
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra):
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self._create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who uses the service. Email is the login; roles are rows."""

    email = models.EmailField(max_length=254, unique=True)
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False, help_text="May sign in to the Django admin.")
    roles = models.ManyToManyField(Role, related_name="users", blank=True, through="UserRole")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["first_name", "last_name"]

    class Meta:
        ordering = ["last_name", "first_name", "id"]
        constraints = [
            models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique"),
        ]
        indexes = [models.Index(fields=["first_name", "last_name", "id"])]

    def __str__(self) -> str:
        return self.name or self.email

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    def get_full_name(self) -> str:
        return self.name

    def get_short_name(self) -> str:
        return self.first_name

    def role_names(self) -> list[str]:
        return sorted(role.name for role in self.roles.all())

    def has_role(self, name: str) -> bool:
        return self.roles.filter(name=name).exists()


class UserRole(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="user_roles")
    role = models.ForeignKey(Role, on_delete=models.CASCADE, related_name="user_roles")

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "role"], name="accounts_userrole_unique"),
        ]
        indexes = [models.Index(fields=["role", "user"])]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.role_id}"


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def generate_raw_token() -> str:
    """``ecm_`` followed by 256 bits of randomness (43 URL-safe characters)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


class TokenKind(models.TextChoices):
    SIGN_IN = "sign_in", "Sign-in (POST /v1/auth/tokens)"
    SERVICE = "service", "Service (create_token, Django admin)"


class ApiToken(models.Model):
    """An API token. Only the SHA-256 digest is stored; the raw token is shown once.

    A token stops working when it expires, is revoked, its user is deactivated, or (when it
    has an ``idle_timeout``, as sign-in tokens do) when it has not been used for that long.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, blank=True, default="")
    digest = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(
        max_length=20, editable=False, help_text="The first characters, to recognise the token."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    kind = models.CharField(
        max_length=10,
        choices=TokenKind.choices,
        default=TokenKind.SERVICE,
        db_default=TokenKind.SERVICE,
        editable=False,
    )
    idle_timeout = models.DurationField(
        null=True,
        blank=True,
        editable=False,
        help_text="Unused for this long, the token stops working (none: no idle expiry).",
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name or 'token'})"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def is_expired(self, now=None) -> bool:
        return self.expires_at <= (now or timezone.now())

    def is_idle(self, now=None) -> bool:
        """Whether a token with an idle timeout has gone unused for longer than it allows.

        ``last_used_at`` is written at most once a minute, so the last real use may be up to
        ``LAST_USED_RESOLUTION`` later than it says; a token is only idle once even that
        latest possible use is older than the timeout. (It thus stops working between
        ``idle_timeout`` and ``idle_timeout`` + 1 minute after its last use, never earlier.)
        """
        if self.idle_timeout is None:
            return False
        last_use = self.last_used_at or self.created_at
        return (now or timezone.now()) - last_use >= self.idle_timeout + LAST_USED_RESOLUTION


class AbuseCounter(models.Model):
    """One counter of the abuse limits (see ``accounts.counters``): ``hits`` in a window that
    ends at ``window_end`` (seconds since the epoch). Written by one upsert per hit; on
    PostgreSQL the table is UNLOGGED (a crash only forgets counts)."""

    key = models.CharField(max_length=100, primary_key=True)
    hits = models.IntegerField()
    window_end = models.FloatField(db_index=True)

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return f"{self.key}: {self.hits}"
