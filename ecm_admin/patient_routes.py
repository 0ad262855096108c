"""The ``patients`` viewset: the patient routes (``patients.views.PatientActions``: the list,
its filter, the detail and its update) and the care-team routes under a patient
(``care_team.views.PatientCareTeamActions``: its Lead Care Managers and their history), on one
prefix of the router.

Composed here, at project level: care_team imports patients, never the reverse.
"""

from rest_framework import viewsets

from care_team.views import PatientCareTeamActions
from ecm_admin.routers import Router
from patients.views import PatientActions


class PatientViewSet(PatientActions, PatientCareTeamActions, viewsets.ViewSet):
    """``/patients`` and ``/patients/{id}``, with their actions."""


# Included under ``v1/admin/clinic/ecm/``; every route works with and without a trailing slash.
router = Router()
router.register("patients", PatientViewSet, basename="patient")

urlpatterns = router.urls
