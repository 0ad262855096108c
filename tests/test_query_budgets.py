"""The query budget of every route and method: a fixed number of SQL statements per request,
the same with 3 patients and LCMs as with 60 (pages of 100, bulk bodies of 3 and 50 items).

Each budget is asserted with ``django_assert_num_queries`` at both sizes, on SQLite and on
PostgreSQL. ``test_every_route_has_a_budget`` fails when a route of the API, or a method of
one, has none here, so a new route cannot ship without one. The counts include the token
lookup (token, user and admin role in one statement), the token's rate count (one upsert in
the abuse counter table: the statement every request with a token pays for limits that hold
across workers and instances; none with CACHE_URL=redis://...) and the access-event INSERT;
the token's ``last_used_at`` UPDATE (written at most once a minute) is done by a warm-up
request first. HEAD runs the GET view (same statements, no body).
"""

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import count

import pytest
from django.conf import settings
from django.utils import timezone
from rest_framework.test import APIClient

from care_team.models import CaseLoad
from ecm_admin.request_context import regex_to_template
from patients.choices import MemberRecordStatus
from patients.models import EcmAuthorization
from tests import factories
from tests.test_route_sweep import ROUTES, methods_of

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        settings.ABUSE_COUNTER_STORE != "database",
        reason="the budgets count the abuse counters' statements of the default store (the"
        " database); CACHE_URL sets another",
    ),
]

API = "v1/admin/clinic/ecm"
SMALL, LARGE = 3, 60
PASSWORD = "a long and unguessable passphrase"


@dataclass
class World:
    """ECM patients with a whole record (case load, two authorizations, status history rows
    and activities each) and the LCMs and provider they are assigned to."""

    admin: object
    provider: object
    lcms: list
    patients: list
    calls: count = field(default_factory=count)

    def grow_to(self, size: int) -> None:
        while len(self.patients) < size:
            olcm = factories.lcm_user()
            self.lcms.append(olcm)
            patient = factories.ecm_patient()
            ilcm = self.lcms[len(self.patients) // 2]
            CaseLoad.objects.create(patient=patient, provider=self.provider, olcm=olcm, ilcm=ilcm)
            for _ in range(2):
                factories.AuthorizationFactory(patient=patient)
                factories.StatusHistoryFactory(patient=patient)
                factories.ActivityFactory(patient=patient)
            self.patients.append(patient)

    def patient_id(self) -> int:
        return self.patients[0].id

    def new_lcm(self) -> int:
        """An LCM nobody is assigned to yet, so that each assignment changes something."""
        return factories.lcm_user().id


@pytest.fixture
def world(admin):
    admin.set_password(PASSWORD)
    admin.save()
    world = World(admin=admin, provider=factories.provider_user(), lcms=[], patients=[])
    world.grow_to(SMALL)
    return world


@dataclass(frozen=True)
class Budget:
    queries: int
    # (path, JSON body or None) for the world at its current size.
    request: Callable[[World], tuple[str, dict | None]]
    status: int = 200
    # The client: "admin" (an admin's token), "anonymous", or "own token" (its own token,
    # for sign-out, which ends it).
    client: str = "admin"


def _status_change(world: World) -> dict:
    call = next(world.calls)
    statuses = (MemberRecordStatus.CONTINUING, MemberRecordStatus.PENDING)
    return {
        "patient": {
            "phone": f"(555) 010-{2000 + call:04d}",
            "ecm_eligibility_information": {"member_record_status": statuses[call % 2]},
        }
    }


def _bulk(world: World) -> dict:
    size = 3 if len(world.patients) == SMALL else 50
    lcm = world.new_lcm()
    return {
        "assignments": [
            {"patient_id": patient.id, "olcm_user_id": lcm} for patient in world.patients[:size]
        ]
    }


def _patient_update(world: World) -> tuple[str, dict]:
    return f"/{API}/patients/{world.patient_id()}", _status_change(world)


def _assignment(world: World) -> tuple[str, dict]:
    return f"/{API}/lead_care_managers/assign", {
        "patient_id": world.patient_id(),
        "olcm_user_id": world.new_lcm(),
    }


def _removal(world: World) -> tuple[str, dict]:
    """The first patient's oLCM removed (one is assigned first, if an earlier call removed it)."""
    CaseLoad.objects.filter(patient_id=world.patient_id()).update(olcm_id=world.new_lcm())
    return f"/{API}/lead_care_managers/assign", {"patient_id": world.patient_id(), "role": "olcm"}


def _waiting_for_an_olcm(world: World) -> None:
    """Every patient of the world without an oLCM: a fill plans one move per patient."""
    CaseLoad.objects.filter(patient__in=world.patients).update(olcm=None, olcm_assigned_at=None)


def _as_of_now(w):
    """The patient's care team as of an instant just past (after its writes, before the
    request): reconstructed from the history, not the present read as it is."""
    patient_id = w.patient_id()
    instant = timezone.now().strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return f"/{API}/patients/{patient_id}/lead_care_managers?as_of={instant}", None


def _auto_assign(*, dry_run: bool, mode: str = "fill", role: str = "olcm"):
    def request(world: World) -> tuple[str, dict]:
        if mode == "fill":
            _waiting_for_an_olcm(world)
        else:  # oLCMs just assigned (in the cooldown), iLCMs long ago: both roles are read,
            # the iLCMs move
            CaseLoad.objects.update(
                olcm_assigned_at=timezone.now(),
                ilcm_assigned_at=timezone.now() - dt.timedelta(days=365),
            )
        body = {"role": role, "mode": mode, "dry_run": dry_run, "tolerance": 0}
        return f"/{API}/lead_care_managers/auto_assign", body

    return request


def _capacity(world: World) -> tuple[str, dict]:
    call = next(world.calls)
    body = {"lead_care_manager": {"capacity": 50 + call, "accepting_patients": call % 2 == 0}}
    return f"/{API}/lead_care_managers/{world.lcms[-1].pk}", body


def _history(world: World) -> tuple[str, None]:
    """A page of the first patient's history, which gains an entry per call."""
    factories.LcmAssignmentHistoryFactory(patient_id=world.patient_id(), new_user=world.admin)
    return f"/{API}/patients/{world.patient_id()}/lead_care_managers/history?per_page=100", None


def _caseload(*, as_of: bool = False):
    """A page of the first LCM's caseload: every patient of the world, as oLCM (set just now;
    as of an instant, with an entry in the history for the first patient, which gains one per
    call)."""

    def request(world: World) -> tuple[str, None]:
        holder = world.lcms[0]
        CaseLoad.objects.filter(patient__in=world.patients).update(
            olcm=holder, olcm_assigned_at=timezone.now()
        )
        query = "per_page=100"
        if as_of:
            factories.LcmAssignmentHistoryFactory(
                patient_id=world.patient_id(), new_user=holder, created_at=timezone.now()
            )
            # An instant just past: reconstructed from the history, not the present as it is.
            query += "&as_of=" + timezone.now().strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return f"/{API}/lead_care_managers/{holder.pk}/patients?{query}", None

    return request


def _transfer(*, dry_run: bool, to_one: bool = False):
    """The first LCM's patients (every patient of the world, as oLCM) spread, or moved to the
    last LCM."""

    def request(world: World) -> tuple[str, dict]:
        source = world.lcms[0]
        CaseLoad.objects.filter(patient__in=world.patients).update(olcm=source)
        body = {"role": "olcm", "reason": "Leaving", "dry_run": dry_run}
        if to_one:
            body["to_user_id"] = world.new_lcm()
        return f"/{API}/lead_care_managers/{source.pk}/transfer", body

    return request


# Per route template and method; the statements in the order they run.
BUDGETS: dict[tuple[str, str], Budget] = {
    ("healthz", "GET"): Budget(1, lambda w: ("/healthz", None)),  # SELECT 1
    # The address's rate count; the email's and the address's failure counts (one upsert);
    # the user; the address's count given back and the email's cleared (one UPDATE); the
    # address made known for the email; the new token, the user's roles (for the answer), the
    # event.
    ("v1/auth/tokens", "POST"): Budget(
        8,
        lambda w: ("/v1/auth/tokens", {"email": w.admin.email, "password": PASSWORD}),
        status=201,
        client="anonymous",
    ),
    # The token, its rate count, its revocation, the event (the token was used once before).
    ("v1/auth/tokens/current", "DELETE"): Budget(
        4, lambda w: ("/v1/auth/tokens/current", None), client="own token"
    ),
    # The API description is built from the code, not from the data.
    (f"{API}/openapi.json", "GET"): Budget(0, lambda w: (f"/{API}/openapi.json", None)),
    (f"{API}/openapi.yaml", "GET"): Budget(0, lambda w: (f"/{API}/openapi.yaml", None)),
    (f"{API}/docs", "GET"): Budget(0, lambda w: (f"/{API}/docs", None)),
    # The token, its rate count, the count (the stored total on PostgreSQL), the page's ids,
    # its rows with eligibility and care team, the event.
    (f"{API}/patients", "GET"): Budget(6, lambda w: (f"/{API}/patients?per_page=100", None)),
    (f"{API}/patients/filter", "POST"): Budget(
        6,
        lambda w: (
            f"/{API}/patients/filter",
            {
                "per_page": 100,
                "sort_by": "acuity_level",
                "filters": {
                    "status": "new_member",
                    "provider_id": w.provider.id,
                    "authorization_status": "Approved",
                },
            },
        ),
    ),
    # The token, its rate count, the patient with eligibility, care team and activity figures,
    # its authorizations, its status history, the event.
    (f"{API}/patients/{{patient_id}}", "GET"): Budget(
        6, lambda w: (f"/{API}/patients/{w.patient_id()}", None)
    ),
    # The token, its rate count; in one transaction: the patient and eligibility locked and
    # read, the patient updated, the eligibility updated (in a savepoint of its own), the
    # status history row, the status-change and update activities; then the detail's three
    # reads, the event.
    (f"{API}/patients/{{patient_id}}", "PUT"): Budget(16, _patient_update),
    (f"{API}/patients/{{patient_id}}", "PATCH"): Budget(16, _patient_update),
    # The token, its rate count, the count, the page's ids, its rows with their counts, their
    # roles.
    (f"{API}/lead_care_managers", "GET"): Budget(
        6, lambda w: (f"/{API}/lead_care_managers?per_page=100", None)
    ),
    # The token, its rate count; in one transaction: the patient locked, its case load, the
    # users named, the case load written, the history and activity rows; the event.
    (f"{API}/lead_care_managers/assign", "POST"): Budget(11, _assignment),
    (f"{API}/lead_care_managers/assign", "PUT"): Budget(11, _assignment),
    (f"{API}/lead_care_managers/assign", "DELETE"): Budget(11, _removal),
    # The same statements for 3 items as for 50.
    (f"{API}/lead_care_managers/bulk_assign", "POST"): Budget(
        11, lambda w: (f"/{API}/lead_care_managers/bulk_assign", _bulk(w))
    ),
    # The token, its rate count, the patient with its care team, the event.
    (f"{API}/patients/{{patient_id}}/lead_care_managers", "GET"): Budget(
        4, lambda w: (f"/{API}/patients/{w.patient_id()}/lead_care_managers", None)
    ),
    # The token, its rate count, the patient, the count, the page, the event.
    (f"{API}/patients/{{patient_id}}/lead_care_managers/history", "GET"): Budget(6, _history),
    # The token, its rate count, the LCMs with their capacity settings, the counted patients
    # by holder, role and acuity (the stored counts on PostgreSQL).
    (f"{API}/lead_care_managers/workload", "GET"): Budget(
        4, lambda w: (f"/{API}/lead_care_managers/workload?per_page=100", None)
    ),
    # The token, its rate count; in one transaction: the LCM checked, its settings locked
    # (none yet: created in a savepoint of its own), written; then the LCM and the counts as
    # the workload reads them, the event.
    (f"{API}/lead_care_managers/{{pk}}", "PATCH"): Budget(13, _capacity),
    # The token, its rate count, the LCMs, the counts, the patients missing the role (one
    # query for all), the event: the same for a plan of 3 moves as of 60.
    (f"{API}/lead_care_managers/auto_assign", "POST"): Budget(6, _auto_assign(dry_run=True)),
    # The token, its rate count, the LCM checked, the caseload's count, its page of patient ids
    # with the roles held, the page's rows, the event.
    (f"{API}/lead_care_managers/{{pk}}/patients", "GET"): Budget(7, _caseload()),
    # The token, its rate count, the LCMs, the counts, the source's patients (one query for
    # all), the event: the same for a plan of 3 moves as of 60.
    (f"{API}/lead_care_managers/{{pk}}/transfer", "POST"): Budget(6, _transfer(dry_run=True)),
}


def _on_the_worklist() -> None:
    """Every patient's authorizations made to cover today and end within the month, so that
    every patient is on a page of the worklist filters."""
    today = timezone.localdate()
    EcmAuthorization.objects.update(
        status="Approved",
        start_date=today - dt.timedelta(days=100),
        expiration_date=today + dt.timedelta(days=10),
    )


def _worklist(query: str):
    def request(world: World) -> tuple[str, None]:
        _on_the_worklist()
        return f"/{API}/patients?per_page=100&{query}", None

    return request


def _worklist_filter(missing: bool):
    def request(world: World) -> tuple[str, dict]:
        _on_the_worklist()
        if missing:  # then no authorization covers today
            EcmAuthorization.objects.update(status="Pending")
        body = {"per_page": 100, "filters": {"missing_active_authorization": missing}}
        return f"/{API}/patients/filter", body

    return request


# More requests of routes above, whose statements differ from the first's (a preview and the
# write it shows, a fill and a rebalance).
MORE_BUDGETS: dict[str, tuple[str, str, Budget]] = {
    # The token, its rate count, the count (from the counts kept by day on PostgreSQL), the
    # page's ids, its rows, the event.
    "patients authorization_expiring_within_days": (
        f"{API}/patients",
        "GET",
        Budget(6, _worklist("authorization_expiring_within_days=30")),
    ),
    # Both worklist filters with a search and a sort: the same statements.
    "patients worklist filters with search and sort": (
        f"{API}/patients",
        "GET",
        Budget(
            6,
            _worklist(
                "authorization_expiring_within_days=30&missing_active_authorization=false"
                "&search=mem&sort_by=name"
            ),
        ),
    ),
    "patients/filter missing_active_authorization false": (
        f"{API}/patients/filter",
        "POST",
        Budget(6, _worklist_filter(False)),
    ),
    "patients/filter missing_active_authorization true": (
        f"{API}/patients/filter",
        "POST",
        Budget(6, _worklist_filter(True)),
    ),
    # The preview's reads; then in one transaction the bulk assignment's (patients locked,
    # case loads, users; case loads written, history and activity rows); the event.
    "auto_assign applied": (
        f"{API}/lead_care_managers/auto_assign",
        "POST",
        Budget(14, _auto_assign(dry_run=False)),
    ),
    # The preview's reads and one query per role for the candidates of every donor.
    "auto_assign rebalance": (
        f"{API}/lead_care_managers/auto_assign",
        "POST",
        Budget(11, _auto_assign(dry_run=True, mode="rebalance", role="both")),
    ),
    "auto_assign rebalance applied": (
        f"{API}/lead_care_managers/auto_assign",
        "POST",
        Budget(19, _auto_assign(dry_run=False, mode="rebalance", role="both")),
    ),
    # The caseload as of an instant: the LCM checked, every patient the history or the case
    # loads may give them with its entries (one query), the page's rows.
    "lead_care_managers patients as_of": (
        f"{API}/lead_care_managers/{{pk}}/patients",
        "GET",
        Budget(6, _caseload(as_of=True)),
    ),
    # The preview's reads; then in one transaction the bulk assignment's; the event.
    "transfer applied": (
        f"{API}/lead_care_managers/{{pk}}/transfer",
        "POST",
        Budget(14, _transfer(dry_run=False)),
    ),
    "transfer to one LCM applied": (
        f"{API}/lead_care_managers/{{pk}}/transfer",
        "POST",
        Budget(14, _transfer(dry_run=False, to_one=True)),
    ),
    # The care team as of an instant: also the patient's history entries (and the users who
    # held a role then, when they are not the present holders: none here).
    "patient lead_care_managers as_of": (
        f"{API}/patients/{{patient_id}}/lead_care_managers",
        "GET",
        Budget(5, lambda w: _as_of_now(w)),
    ),
}
CASES = [
    (f"{method} {route}", route, method, budget) for (route, method), budget in BUDGETS.items()
]
CASES += [(name, route, method, budget) for name, (route, method, budget) in MORE_BUDGETS.items()]


def _client(budget: Budget, admin_client: APIClient, world: World) -> APIClient:
    if budget.client == "admin":
        return admin_client
    client = APIClient()
    if budget.client == "own token":
        client.credentials(HTTP_X_USER_TOKEN=factories.ApiTokenFactory(user=world.admin).raw)
        _warm(client)
    return client


def _warm(client: APIClient) -> None:
    """A first request, which writes the token's ``last_used_at``."""
    assert client.get(f"/{API}/patients?per_page=1").status_code == 200


@pytest.mark.parametrize(
    ("route", "method", "budget"),
    [case[1:] for case in sorted(CASES, key=lambda case: case[0])],
    ids=sorted(case[0] for case in CASES),
)
def test_budget_holds_at_both_sizes(
    route, method, budget, admin_client, world, django_assert_num_queries
):
    _warm(admin_client)
    for size in (SMALL, LARGE):
        world.grow_to(size)
        client = _client(budget, admin_client, world)
        path, body = budget.request(world)
        data = "" if body is None else json.dumps(body)
        with django_assert_num_queries(budget.queries):
            response = client.generic(method, path, data=data, content_type="application/json")
        assert response.status_code == budget.status, response.content[:300]


def test_every_route_has_a_budget():
    """Every method of every route (but HEAD, which runs GET, and OPTIONS, which reads no
    data) has a budget above, and every budget names a route that exists."""
    wanted = {
        (regex_to_template(route), method)
        for route, pattern in ROUTES
        for method in methods_of(pattern.callback) - {"HEAD", "OPTIONS"}
    }
    assert wanted == set(BUDGETS)
