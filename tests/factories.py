"""factory-boy factories for every model."""

import datetime as dt

import factory
from django.utils import timezone

from accounts.models import ApiToken, Role, User, UserRole, generate_raw_token, hash_token
from care_team.models import CaseLoad, LcmAssignmentHistory
from patients.choices import ActivityKind, AcuityLevel, MemberRecordStatus
from patients.models import (
    Activity,
    EcmAuthorization,
    EcmEligibilityInformation,
    EcmStatusHistory,
    Patient,
)


class RoleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Role
        django_get_or_create = ("name",)

    name = "ecm"


class UserFactory(factory.django.DjangoModelFactory):
    """A user; ``UserFactory(roles=["admin", "ecm"])`` gives roles."""

    class Meta:
        model = User
        django_get_or_create = ("email",)
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.org")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    is_active = True

    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        if not create or not extracted:
            return
        for name in extracted:
            role, _ = Role.objects.get_or_create(name=name)
            UserRole.objects.get_or_create(user=self, role=role)


def admin_user(**kwargs) -> User:
    return UserFactory(roles=["admin"], **kwargs)


def lcm_user(**kwargs) -> User:
    return UserFactory(roles=["ecm"], **kwargs)


def provider_user(**kwargs) -> User:
    return UserFactory(roles=["provider"], **kwargs)


class ApiTokenFactory(factory.django.DjangoModelFactory):
    """A token. The raw value is kept on the instance as ``raw`` (never stored)."""

    class Meta:
        model = ApiToken

    user = factory.SubFactory(UserFactory)
    expires_at = factory.LazyFunction(lambda: timezone.now() + dt.timedelta(days=30))

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        raw = generate_raw_token()
        kwargs.setdefault("digest", hash_token(raw))
        kwargs.setdefault("prefix", raw[:12])
        obj = super()._create(model_class, *args, **kwargs)
        obj.raw = raw
        return obj


class PatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Patient

    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    date_of_birth = factory.Faker("date_of_birth", minimum_age=1, maximum_age=90)
    gender = "unknown"
    phone = "+18055550100"
    email = factory.Sequence(lambda n: f"patient{n}@example.org")
    street = "123 Main St"
    city = "Los Angeles"
    state = "CA"
    zip_code = "90001"
    services = factory.LazyFunction(lambda: ["ecm"])


class EligibilityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EcmEligibilityInformation

    patient = factory.SubFactory(PatientFactory)
    member_id = factory.Sequence(lambda n: f"MEM{n:010d}")
    cin = factory.Sequence(lambda n: f"{n % 100000000:08d}A")
    ecm_service_auth_id = factory.Sequence(lambda n: f"AUTH{n:06d}")
    ecm_provider_name = "Esteem Health PSC"
    ecm_npi = "1234567893"
    ecm_benefit_auth_eff_date = dt.date(2024, 1, 1)
    ecm_benefit_auth_end_date = dt.date(2024, 12, 31)
    acuity_level = AcuityLevel.MEDIUM
    member_record_status = MemberRecordStatus.NEW


def ecm_patient(**eligibility) -> Patient:
    """A patient with ECM eligibility (the only kind the API shows)."""
    patient_kwargs = {
        k[len("patient__") :]: v for k, v in eligibility.items() if k.startswith("patient__")
    }
    eligibility = {k: v for k, v in eligibility.items() if not k.startswith("patient__")}
    patient = PatientFactory(**patient_kwargs)
    EligibilityFactory(patient=patient, **eligibility)
    return patient


class AuthorizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EcmAuthorization

    patient = factory.SubFactory(PatientFactory)
    auth_no = factory.Sequence(lambda n: f"AUTH{n:010d}")
    auth_type = "ES"
    authorization_type = "Form I"
    status = "Approved"
    start_date = dt.date(2024, 1, 1)
    expiration_date = dt.date(2024, 12, 31)


class StatusHistoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EcmStatusHistory

    patient = factory.SubFactory(PatientFactory)
    status = MemberRecordStatus.NEW
    changed_by = "System Import"


class ActivityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Activity

    patient = factory.SubFactory(PatientFactory)
    kind = ActivityKind.NOTE
    description = "Called the member"
    actor_name = "System"


class CaseLoadFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CaseLoad

    # Only an ECM patient has a care team (care_team migration 0010).
    patient = factory.LazyFunction(ecm_patient)


class LcmAssignmentHistoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LcmAssignmentHistory

    patient = factory.SubFactory(PatientFactory)
    role = "olcm"
    acted_by_name = "System"
