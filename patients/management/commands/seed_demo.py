"""``manage.py seed_demo [--patients N]``: a realistic, deterministic demo data set.

Idempotent: users and patients that already exist (by email, by member_id) are left as they
are, so running it again creates nothing. Every value comes from a ``random.Random`` seeded
per patient, so the data set is the same on every machine and ``--patients 300`` after the
default adds patients 201-300 without touching the first 200.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import string
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.management.base import CommandError, CommandParser
from django.db import transaction

from accounts.models import User
from accounts.services import user_upsert
from audit.commands import AuditedCommand
from audit.models import Action
from care_team.choices import CareTeamRole
from care_team.models import CaseLoad, LcmAssignmentHistory
from patients.choices import ActivityKind, AcuityLevel, Gender, MemberRecordStatus
from patients.models import (
    Activity,
    EcmAuthorization,
    EcmEligibilityInformation,
    EcmStatusHistory,
    Patient,
)
from patients.rules import npi_check_digit
from patients.services import activity_build, status_change_build

SEED = "ecm-admin-demo"
DEFAULT_PATIENTS = 200
MAX_PATIENTS = 100_000
MEMBER_ID_PREFIX = "DEMO"
ADMIN_PASSWORD_VARIABLE = "DEMO_ADMIN_PASSWORD"
ASSIGNMENT_REASON = "Initial care team assignment"
# Every demo date lies between these, so the data does not depend on the day it is seeded.
FIRST_ENROLLMENT = dt.date(2023, 7, 1)
LAST_ENROLLMENT = dt.date(2025, 3, 1)


@dataclass(frozen=True)
class DemoUser:
    email: str
    first_name: str
    last_name: str
    roles: tuple[str, ...]
    is_staff: bool = False


ADMIN = DemoUser("demo.admin@example.org", "Demo", "Admin", ("admin", "staff"), is_staff=True)
LCMS = (
    DemoUser("maria.hernandez@example.org", "Maria", "Hernandez", ("coordinator", "ecm")),
    DemoUser("james.nguyen@example.org", "James", "Nguyen", ("ecm",)),
    DemoUser("aisha.johnson@example.org", "Aisha", "Johnson", ("coordinator", "ecm")),
    DemoUser("carlos.ramirez@example.org", "Carlos", "Ramirez", ("ecm",)),
    DemoUser("emily.chen@example.org", "Emily", "Chen", ("ecm",)),
    DemoUser("david.okafor@example.org", "David", "Okafor", ("ecm",)),
)
PROVIDERS = (
    DemoUser("dr.smith@example.org", "Dr.", "Smith", ("provider",)),
    DemoUser("dr.patel@example.org", "Dr.", "Patel", ("provider",)),
    DemoUser("dr.garcia@example.org", "Dr.", "Garcia", ("provider",)),
)
DEMO_USERS = (ADMIN, *LCMS, *PROVIDERS)

FEMALE_NAMES = (
    "Maria", "Guadalupe", "Jennifer", "Linh", "Aaliyah", "Sofia", "Rosa", "Mei", "Jasmine",
    "Elena", "Patricia", "Ana", "Keisha", "Priya", "Lucia", "Veronica", "Hannah", "Yesenia",
    "Grace", "Destiny", "Carmen", "Thuy", "Olivia", "Imani",
)  # fmt: skip
MALE_NAMES = (
    "John", "Jose", "Michael", "Luis", "David", "Minh", "DeShawn", "Juan", "Robert", "Anthony",
    "Daniel", "Raj", "Miguel", "Kevin", "Marcus", "Jesus", "Tyrone", "Eduardo", "Brian",
    "Hector", "William", "Khoa", "Samuel", "Andre",
)  # fmt: skip
LAST_NAMES = (
    "Garcia", "Hernandez", "Lopez", "Martinez", "Gonzalez", "Rodriguez", "Nguyen", "Tran",
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Doe", "Kim", "Lee", "Wong", "Chen",
    "Patel", "Singh", "Ramirez", "Flores", "Rivera", "Torres", "Washington", "Jackson",
    "Davis", "Miller", "Vasquez", "Castillo", "Pham", "Le", "Reyes", "Morales", "Cruz",
    "Ortiz", "Harris", "Robinson", "Thompson", "Ali",
)  # fmt: skip
# (city, ZIP code, telephone area code): places in California.
PLACES = (
    ("Los Angeles", "90011", "323"), ("Los Angeles", "90001", "213"),
    ("Long Beach", "90805", "562"), ("Fresno", "93706", "559"), ("Sacramento", "95823", "916"),
    ("San Diego", "92105", "619"), ("Oakland", "94601", "510"), ("San Jose", "95122", "408"),
    ("Bakersfield", "93307", "661"), ("Riverside", "92503", "951"), ("Stockton", "95205", "209"),
    ("Santa Ana", "92701", "714"), ("Oxnard", "93030", "805"), ("Salinas", "93905", "831"),
    ("Modesto", "95351", "209"), ("San Bernardino", "92410", "909"),
    ("Santa Maria", "93454", "805"), ("Visalia", "93277", "559"),
    ("Chula Vista", "91911", "619"), ("Pomona", "91766", "909"),
)  # fmt: skip
STREETS = (
    "Main St", "Cesar Chavez Ave", "Mission Blvd", "El Camino Real", "Broadway", "Olive Ave",
    "Washington Blvd", "Lincoln Ave", "Palm Dr", "Sierra Vista Dr", "Alvarado St",
    "Figueroa St", "Mariposa Ave", "Valley View Rd", "Oak St", "University Ave",
)  # fmt: skip
# ECM provider organisations with valid NPIs (check digit computed, not typed).
ECM_PROVIDERS = tuple(
    (name, base + npi_check_digit(base))
    for name, base in (
        ("Esteem Health PSC", "123456789"),
        ("Golden Valley Care Partners", "158203614"),
        ("Pacific Coast Community Health", "196072435"),
    )
)

STATUS_WEIGHTS = {
    MemberRecordStatus.NEW: 20,
    MemberRecordStatus.CONTINUING: 45,
    MemberRecordStatus.PENDING: 12,
    MemberRecordStatus.TERMINATED: 10,
    MemberRecordStatus.INACTIVE: 13,
}
ACUITY_WEIGHTS = {AcuityLevel.LOW: 30, AcuityLevel.MEDIUM: 45, AcuityLevel.HIGH: 25}
# The statuses a member passed through to reach its current one.
STATUS_PATHS = {
    MemberRecordStatus.NEW: (MemberRecordStatus.NEW,),
    MemberRecordStatus.CONTINUING: (MemberRecordStatus.NEW, MemberRecordStatus.CONTINUING),
    MemberRecordStatus.PENDING: (MemberRecordStatus.NEW, MemberRecordStatus.PENDING),
    MemberRecordStatus.TERMINATED: (
        MemberRecordStatus.NEW,
        MemberRecordStatus.CONTINUING,
        MemberRecordStatus.TERMINATED,
    ),
    MemberRecordStatus.INACTIVE: (
        MemberRecordStatus.NEW,
        MemberRecordStatus.CONTINUING,
        MemberRecordStatus.INACTIVE,
    ),
}


@dataclass
class DemoMember:
    """One demo patient with everything that hangs off it, before it is saved."""

    patient: Patient
    eligibility: EcmEligibilityInformation
    authorizations: list[EcmAuthorization]
    statuses: list[tuple[str, dt.datetime, DemoUser | None]]  # (status, when, by whom)
    care_team: dict[str, DemoUser] = field(default_factory=dict)  # CareTeamRole → user
    care_team_at: dt.datetime | None = None


def member_id(index: int) -> str:
    return f"{MEMBER_ID_PREFIX}{index:09d}"


def _weighted(rng: random.Random, weights: dict[Any, int]) -> Any:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _at(day: dt.date, rng: random.Random) -> dt.datetime:
    """A time on ``day`` during office hours (UTC)."""
    return dt.datetime.combine(day, dt.time(rng.randrange(15, 24), rng.randrange(60)), dt.UTC)


def _add_months(day: dt.date, months: int) -> dt.date:
    month = day.month - 1 + months
    return day.replace(year=day.year + month // 12, month=month % 12 + 1)


def _demo_patient(rng: random.Random) -> Patient:
    female = rng.random() < 0.52
    first_name = rng.choice(FEMALE_NAMES if female else MALE_NAMES)
    last_name = rng.choice(LAST_NAMES)
    gender = Gender.FEMALE if female else Gender.MALE
    if rng.random() < 0.04:
        gender = rng.choice([Gender.OTHER, Gender.UNKNOWN])
    city, zip_code, area_code = rng.choice(PLACES)
    street = f"{rng.randrange(100, 9999)} {rng.choice(STREETS)}"
    if rng.random() < 0.3:
        street += f" Apt {rng.randrange(1, 40)}{rng.choice('ABCD')}"
    email = ""
    if rng.random() < 0.6:
        email = f"{first_name}.{last_name}{rng.randrange(10, 99)}@example.com".lower()
    birth_span = (dt.date(2012, 12, 31) - dt.date(1945, 1, 1)).days
    return Patient(
        first_name=first_name,
        last_name=last_name,
        date_of_birth=dt.date(1945, 1, 1) + dt.timedelta(days=rng.randrange(birth_span)),
        gender=gender,
        # 555-0100 to 555-0199 are reserved for fiction.
        phone=f"+1{area_code}555{rng.randrange(100, 200):04d}",
        email=email,
        street=street,
        city=city,
        state="CA",
        zip_code=zip_code,
        services=["ecm", "clinical"] if rng.random() < 0.4 else ["ecm"],
    )


def _demo_eligibility(index: int, rng: random.Random, status: str) -> EcmEligibilityInformation:
    months = (LAST_ENROLLMENT.year - FIRST_ENROLLMENT.year) * 12
    months += LAST_ENROLLMENT.month - FIRST_ENROLLMENT.month
    effective = _add_months(FIRST_ENROLLMENT, rng.randrange(months + 1))
    end = _add_months(effective, 12) - dt.timedelta(days=1)
    provider_name, npi = rng.choice(ECM_PROVIDERS)
    return EcmEligibilityInformation(
        member_id=member_id(index),
        cin=f"9{rng.randrange(10**7):07d}{rng.choice(string.ascii_uppercase)}",
        ecm_service_auth_id=f"AUTH{index:06d}",
        ecm_provider_name=provider_name,
        ecm_npi=npi,
        ecm_benefit_auth_eff_date=effective,
        ecm_benefit_auth_end_date=None if rng.random() < 0.08 else end,
        acuity_level=_weighted(rng, ACUITY_WEIGHTS),
        member_record_status=status,
    )


def _demo_authorizations(
    index: int, rng: random.Random, effective: dt.date, status: str
) -> list[EcmAuthorization]:
    """Consecutive six-month authorizations from the effective date: one for a new or pending
    member, one to three for the others."""
    early = status in (MemberRecordStatus.NEW, MemberRecordStatus.PENDING)
    count = 1 if early else rng.randint(1, 3)
    authorizations = []
    for number in range(1, count + 1):
        start = _add_months(effective, 6 * (number - 1))
        latest = number == count
        if not latest:
            auth_status = "Expired"
        elif status == MemberRecordStatus.PENDING:
            auth_status = "Pending"
        elif status == MemberRecordStatus.TERMINATED:
            auth_status = "Terminated"
        else:
            auth_status = rng.choice(["Approved", "Approved", "Approved", "Denied"])
        authorizations.append(
            EcmAuthorization(
                auth_no=f"DEMOAUTH{index:06d}{number}",
                auth_type="ES",
                authorization_type="Form I" if number == 1 else "Form II",
                status=auth_status,
                start_date=start,
                expiration_date=_add_months(start, 6) - dt.timedelta(days=1),
            )
        )
    return authorizations


def _demo_statuses(
    rng: random.Random, effective: dt.date, status: str
) -> list[tuple[str, dt.datetime, DemoUser | None]]:
    """The member's status history: imported as new, later changes made by staff."""
    day = effective - dt.timedelta(days=rng.randrange(3, 15))
    statuses = []
    for step, path_status in enumerate(STATUS_PATHS[status]):
        by = None if step == 0 else rng.choice((ADMIN, *LCMS))
        statuses.append((str(path_status), _at(day, rng), by))
        day += dt.timedelta(days=rng.randrange(30, 150))
    return statuses


def _demo_care_team(rng: random.Random) -> dict[str, DemoUser]:
    """Most members have a full care team; some lack an oLCM, an iLCM or both."""
    draw = rng.random()
    if draw < 0.04:
        return {}
    olcm, ilcm = rng.sample(LCMS, 2)
    team = {
        CareTeamRole.PROVIDER: rng.choice(PROVIDERS),
        CareTeamRole.OLCM: olcm,
        CareTeamRole.ILCM: ilcm,
    }
    if draw < 0.10:
        del team[CareTeamRole.OLCM], team[CareTeamRole.ILCM]
    elif draw < 0.18:
        del team[CareTeamRole.ILCM]
    elif draw < 0.24:
        del team[CareTeamRole.OLCM]
    if rng.random() < 0.08 and len(team) > 1:
        del team[CareTeamRole.PROVIDER]
    return {str(role): user for role, user in team.items()}


def demo_member(index: int) -> DemoMember:
    """Demo patient number ``index``: always the same, whatever else exists."""
    rng = random.Random(f"{SEED}:{index}")
    status = _weighted(rng, STATUS_WEIGHTS)
    patient = _demo_patient(rng)
    eligibility = _demo_eligibility(index, rng, status)
    effective = eligibility.ecm_benefit_auth_eff_date
    statuses = _demo_statuses(rng, effective, status)
    patient.created_at = statuses[0][1]
    care_team = _demo_care_team(rng)
    return DemoMember(
        patient=patient,
        eligibility=eligibility,
        authorizations=_demo_authorizations(index, rng, effective, status),
        statuses=statuses,
        care_team=care_team,
        care_team_at=_at(effective + dt.timedelta(days=rng.randrange(1, 20)), rng),
    )


def _ensure_users() -> tuple[dict[str, User], int]:
    """The demo users by email, and how many were created. Existing users are left alone,
    except that the demo admin's password follows DEMO_ADMIN_PASSWORD when it is set."""
    emails = [spec.email for spec in DEMO_USERS]
    existing = {user.email: user for user in User.objects.filter(email__in=emails)}
    password = os.environ.get(ADMIN_PASSWORD_VARIABLE) or None
    users, created = {}, 0
    for spec in DEMO_USERS:
        user = existing.get(spec.email)
        wants_password = spec is ADMIN and password is not None
        if user is None or (wants_password and not user.check_password(password)):
            user, is_new = user_upsert(
                email=spec.email,
                first_name=spec.first_name,
                last_name=spec.last_name,
                roles=list(spec.roles),
                is_staff=spec.is_staff,
                password=password if spec is ADMIN else None,
            )
            created += is_new
        users[spec.email] = user
    return users, created


def _save_members(members: list[DemoMember], users: dict[str, User]) -> None:
    Patient.objects.bulk_create([m.patient for m in members])
    for member in members:
        member.eligibility.patient = member.patient
        for authorization in member.authorizations:
            authorization.patient = member.patient
    EcmEligibilityInformation.objects.bulk_create([m.eligibility for m in members])
    EcmAuthorization.objects.bulk_create([a for m in members for a in m.authorizations])
    histories, activities = [], []
    for member in members:
        previous = None
        for status, at, by in member.statuses:
            history, activity = status_change_build(
                patient_id=member.patient.pk,
                previous=previous,
                status=status,
                actor=users[by.email] if by else None,
                at=at,
            )
            histories.append(history)
            activities.append(activity)
            previous = status
    EcmStatusHistory.objects.bulk_create(histories)
    Activity.objects.bulk_create(activities)
    _save_care_teams(members, users)


def _save_care_teams(members: list[DemoMember], users: dict[str, User]) -> None:
    """Case loads with the history and activities an assignment through the service records."""
    admin = users[ADMIN.email]
    staffed = [m for m in members if m.care_team]
    CaseLoad.objects.bulk_create([_case_load(m, users) for m in staffed])
    histories, activities = [], []
    for member in staffed:
        for role, spec in member.care_team.items():
            user = users[spec.email]
            histories.append(
                LcmAssignmentHistory(
                    patient=member.patient,
                    role=role,
                    previous_user=None,
                    new_user=user,
                    acted_by=admin,
                    acted_by_name=admin.name,
                    reason=ASSIGNMENT_REASON,
                    created_at=member.care_team_at,
                )
            )
            activities.append(_assignment_activity(member, role, user, admin))
    LcmAssignmentHistory.objects.bulk_create(histories)
    Activity.objects.bulk_create(activities)


def _case_load(member: DemoMember, users: dict[str, User]) -> CaseLoad:
    case_load = CaseLoad(
        patient=member.patient, created_at=member.care_team_at, updated_at=member.care_team_at
    )
    for role, spec in member.care_team.items():
        setattr(case_load, role, users[spec.email])
        setattr(case_load, f"{role}_assigned_at", member.care_team_at)
    return case_load


def _assignment_activity(member: DemoMember, role: str, user: User, admin: User) -> Activity:
    is_provider = role == CareTeamRole.PROVIDER
    return activity_build(
        patient_id=member.patient.pk,
        kind=ActivityKind.PROVIDER_ASSIGNED if is_provider else ActivityKind.LCM_ASSIGNED,
        description=f"{CareTeamRole(role).label} assigned: {user.name}. "
        f"Reason: {ASSIGNMENT_REASON}",
        actor=admin,
        metadata={
            "role": role,
            "previous_user_id": None,
            "new_user_id": user.pk,
            "reason": ASSIGNMENT_REASON,
        },
        at=member.care_team_at,
    )


@transaction.atomic
def seed_demo(*, patients: int) -> tuple[int, int]:
    """Create the demo users and patients 1..``patients`` that do not exist yet.

    Returns (users created, patients created).
    """
    users, users_created = _ensure_users()
    wanted = {member_id(index): index for index in range(1, patients + 1)}
    present = set(
        EcmEligibilityInformation.objects.filter(member_id__in=wanted).values_list(
            "member_id", flat=True
        )
    )
    missing = [demo_member(index) for mid, index in wanted.items() if mid not in present]
    _save_members(missing, users)
    return users_created, len(missing)


def _patient_count(value: str) -> int:
    if not value.strip().isascii() or not value.strip().isdigit():
        raise CommandError(f"--patients must be a whole number, got {value}")
    count = int(value)
    if not 1 <= count <= MAX_PATIENTS:
        raise CommandError(f"--patients must be from 1 to {MAX_PATIENTS}")
    return count


class Command(AuditedCommand):
    audit_action = Action.SEED
    help = (
        "Load a deterministic demo data set (ECM patients, eligibility, authorizations, status "
        "history, users and care teams) for local use. Running it again creates nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--patients", default=str(DEFAULT_PATIENTS), help="number of demo patients"
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="seed even though DEBUG is off (never on a database with real patients)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG and not options["force"]:
            raise CommandError(
                "seed_demo writes made-up patients; run it with DEBUG=1 (development) "
                "or pass --force"
            )
        patients = _patient_count(str(options["patients"]))
        users_created, patients_created = seed_demo(patients=patients)
        self.stdout.write(
            f"Seeded demo data: {patients_created} patients created "
            f"({patients - patients_created} already present), {users_created} users created "
            f"({len(DEMO_USERS) - users_created} already present)"
        )
