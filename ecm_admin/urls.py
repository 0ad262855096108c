from django.contrib import admin
from django.urls import include, path

from accounts.admin_login import admin_login
from ecm_admin.routers import API_PREFIX

urlpatterns = [
    # The admin's login under the sign-in failure limits (ahead of the admin's own route).
    path("admin/login/", admin_login, name="admin_login"),
    path("admin/", admin.site.urls),
    path("", include("ecm_admin.health")),
    path("v1/auth/", include("accounts.urls")),
    path("", include("ecm_admin.docs")),  # openapi.json/.yaml and the Swagger UI page
    path(API_PREFIX, include("ecm_admin.patient_routes")),  # patients and their care team
    path(API_PREFIX, include("care_team.urls")),
]

handler400 = "ecm_admin.exceptions.handler400"
handler403 = "ecm_admin.exceptions.handler403"
handler404 = "ecm_admin.exceptions.handler404"
handler500 = "ecm_admin.exceptions.handler500"
