from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, register_converter

from api.token_views import tokens as api_tokens
from config import health
from fleet.api_ingest import push_probe
from fleet.hostnames import HostNameConverter
from metrics.views import metrics
from reports import views as reports

# Every URL to a host, in any app, goes through this converter: any stored name links and resolves.
register_converter(HostNameConverter, "hostname")

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/v1/hosts/<str:name>/probe", push_probe, name="api-probe-push"),
    path("api/", include("api.urls")),
    path("api-tokens/", api_tokens, name="api-tokens"),
    path("metrics", metrics, name="metrics"),
    path("reports/", reports.index, name="reports"),
    path("rollouts/", include("reboots.urls")),
    path("cadence/", include("cadence.urls")),
    path("traffic/", include("traffic.urls")),
    path("", include("fleet.urls")),
]

# Error pages in the app's layout; under /api/ they answer JSON (config/error_views.py).
handler403 = "config.error_views.permission_denied"
handler404 = "config.error_views.page_not_found"
handler500 = "config.error_views.server_error"
