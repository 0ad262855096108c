from django.urls import re_path

from care_team import views
from ecm_admin.routers import Router

# Included under ``v1/admin/clinic/ecm/``; every route works with and without a trailing slash.
router = Router()
router.register("lead_care_managers", views.LeadCareManagerViewSet, basename="lead-care-manager")

urlpatterns = [
    *router.urls,
    re_path(
        r"^patients/(?P<patient_id>[^/]+)/lead_care_managers/?$",
        views.PatientLeadCareManagersView.as_view({"get": "retrieve"}),
        name="patient-lead-care-managers",
    ),
]
