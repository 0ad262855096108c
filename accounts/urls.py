from django.urls import re_path

from accounts import views

# Included under ``v1/auth/`` (outside the admin API prefix); with or without a trailing slash.
urlpatterns = [
    re_path(r"^tokens/?$", views.TokenCreateView.as_view(), name="auth-token-create"),
    re_path(r"^tokens/current/?$", views.TokenCurrentView.as_view(), name="auth-token-current"),
]
