"""The API's router: DRF's, with every route answering with and without a trailing slash."""

from rest_framework.routers import SimpleRouter

# Where the admin API's routes are mounted (``ecm_admin.urls``).
API_PREFIX = "v1/admin/clinic/ecm/"


class Router(SimpleRouter):
    """Routes match ``/patients`` and ``/patients/`` alike: no redirect (which would drop a
    PUT or POST body) and no 404 for the slash a client adds or leaves out."""

    def __init__(self):
        super().__init__()
        self.trailing_slash = "/?"
