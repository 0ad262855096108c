from care_team import views
from ecm_admin.routers import Router

# Included under ``v1/admin/clinic/ecm/``; every route works with and without a trailing slash.
# The care-team routes under a patient are actions of the ``patients`` viewset
# (``ecm_admin.patient_routes``).
router = Router()
router.register("lead_care_managers", views.LeadCareManagerViewSet, basename="lead-care-manager")

urlpatterns = router.urls
