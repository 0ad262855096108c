from django.urls import re_path

from care_team import views

# Included under ``v1/admin/clinic/ecm/``; every route works with and without a trailing slash.
urlpatterns = [
    re_path(r"^lead_care_managers/?$", views.LeadCareManagerListView.as_view()),
    re_path(r"^lead_care_managers/assign/?$", views.AssignView.as_view()),
    re_path(r"^lead_care_managers/bulk_assign/?$", views.BulkAssignView.as_view()),
    re_path(
        r"^patients/(?P<patient_id>[^/]+)/lead_care_managers/?$",
        views.PatientLeadCareManagersView.as_view(),
    ),
]
