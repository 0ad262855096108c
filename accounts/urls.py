from accounts import views
from ecm_admin.routers import Router

# Included under ``v1/auth/`` (outside the admin API prefix); every route works with and
# without a trailing slash.
router = Router()
router.register("tokens", views.TokenViewSet, basename="auth-token")

urlpatterns = router.urls
