"""Routes under /api/: the v1 export, its OpenAPI schema and the docs page."""

from django.contrib.auth.decorators import login_not_required, login_required
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import APIRootView, DefaultRouter

from api import views
from api.debt import DebtView
from api.permissions import CanReadFleet

app_name = "api"


class RootView(APIRootView):
    """The v1 endpoints. Every list is also a CSV: `?format=csv` or `<list>/export.csv`."""

    permission_classes = [CanReadFleet]

    @classmethod
    def as_view(cls, **initkwargs):
        return login_not_required(super().as_view(**initkwargs))


class Router(DefaultRouter):
    APIRootView = RootView
    # `.json` suffixes would make host names with dots ambiguous; `?format=` does the job.
    include_format_suffixes = False


RESOURCES = [
    ("hosts", views.HostViewSet, "host"),
    ("groups", views.GroupViewSet, "group"),
    ("findings", views.FindingViewSet, "finding"),
    ("boots", views.BootViewSet, "boot"),
    ("rollouts", views.RolloutViewSet, "rollout"),
    ("waves", views.WaveViewSet, "wave"),
    ("attempts", views.AttemptViewSet, "attempt"),
    ("events", views.EventViewSet, "event"),
]

router = Router()
for prefix, viewset, basename in RESOURCES:
    router.register(prefix, viewset, basename=basename)

# Before the router: `hosts/export.csv` must not be read as the host named "export.csv".
exports = [
    path(f"{prefix}/export.csv", viewset.as_view({"get": "export"}), name=f"{basename}-export")
    for prefix, viewset, basename in RESOURCES
]

v1 = [*exports, path("debt/", DebtView.as_view(), name="debt"), *router.urls]

schema_view = SpectacularAPIView.as_view(permission_classes=[CanReadFleet])
# The split view serves Swagger UI's start-up script as a file (?script): no inline <script>,
# which the Content-Security-Policy would refuse (config/csp.py).
docs_view = SpectacularSwaggerSplitView.as_view(
    url_name="api:schema", permission_classes=[CanReadFleet]
)

urlpatterns = [
    path("v1/", include(v1)),
    path("schema/", login_not_required(schema_view), name="schema"),
    # The docs page is for people: the login redirect of every page (DRF views opt out of it).
    path("docs/", login_required(docs_view), name="docs"),
]
