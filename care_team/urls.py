from care_team import views
from ecm_admin.routers import Router

# Included under ``v1/admin/clinic/ecm/``; every route works with and without a trailing slash.
router = Router()
router.register("lead_care_managers", views.LeadCareManagerViewSet, basename="lead-care-manager")
router.register("patients", views.PatientCareTeamViewSet, basename="patient")

urlpatterns = router.urls
