from django.urls import re_path

from patients import views

# Each route answers with or without a trailing slash (no redirect that would drop a body).
urlpatterns = [
    re_path(r"^patients/?$", views.PatientListView.as_view(), name="patient-list"),
    re_path(r"^patients/filter/?$", views.PatientFilterView.as_view(), name="patient-filter"),
    re_path(
        r"^patients/(?P<patient_id>[^/]+)/?$",
        views.PatientDetailView.as_view(),
        name="patient-detail",
    ),
]
