"""Rebootable settings, driven by the environment.

Defaults suit a laptop: SQLite under var/, a filesystem broker (no Redis needed), a secret key
generated on first run. Production sets DATABASE_URL, REDIS_URL, SECRET_KEY and ALLOWED_HOSTS.
"""

import ipaddress
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_float, env_int, env_list, env_str

# --- Paths: the source tree, and the state dir (SQLite file, secret key, broker folder, lab) ------
BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("REBOOTABLE_VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

# --- Core: secret key, debug, the host names this site answers to ---------------------------------


def _secret_key() -> str:
    key = env_str("SECRET_KEY")
    if key:
        return key
    # First run without SECRET_KEY: make one and keep it, so sessions survive restarts.
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# --- Applications, middleware, templates ----------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "axes",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "core",
    "fleet",
    "traffic",
    "reboots",
    "cadence",
    "api",
    "lab",
    "reports",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "config.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "config.middleware.RejectNulPathMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "fleet.context_processors.roles",
                "reboots.context_processors.banners",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'rebootable.sqlite3'}")
try:
    _db = dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("CONN_MAX_AGE", 60))
except ValueError as exc:
    raise ImproperlyConfigured(f"DATABASE_URL is not a database URL: {exc}") from exc
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and a busy timeout let a web process and a worker share one SQLite file;
    # IMMEDIATE transactions take the write lock up front instead of failing on upgrade.
    _db["CONN_MAX_AGE"] = 0
    _db["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
    }
    _db["TEST"] = {"NAME": env_str("SQLITE_TEST_NAME", "") or None}
elif _db["ENGINE"] == "django.db.backends.postgresql":
    _db["CONN_HEALTH_CHECKS"] = True
    # No JIT compilation: it pays off for long analytic queries, and the dashboard's are short.
    # At 10,000 hosts the Fleet table sorted by findings was estimated past
    # jit_optimize_above_cost: 0.73 s compiling a query that runs in 0.2 s. The URL's own
    # `?options=` wins (benchmarks/README.md, "Pages at fleet scale").
    _db.setdefault("OPTIONS", {}).setdefault("options", "-c jit=off")
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth: passwords, login pages, login throttling (django-axes, config/throttle.py) -------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "fleet:index"
LOGOUT_REDIRECT_URL = "login"

# A username is locked out from one address after LOGIN_FAILURE_LIMIT wrong passwords, for
# LOGIN_LOCKOUT_MINUTES, on /login/ and /admin/login/ alike; while locked out the right password
# is refused too. Per user *and* address, so a stranger guessing cannot lock a colleague out
# from their own desk.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: it refuses before a password is checked
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# The lockout ends a fixed time after it began: retrying while locked does not extend it.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "config.throttle.locked_out"
AXES_CLIENT_IP_CALLABLE = "config.throttle.client_ip"
AXES_DISABLE_ACCESS_LOG = True  # failed attempts are kept; successful logins are not logged
AXES_VERBOSE = False  # no start-up banner in every manage.py command; lockouts still warn
# Behind one reverse proxy that appends the peer to X-Forwarded-For, count the address it saw.
TRUST_X_FORWARDED_FOR = env_bool("TRUST_X_FORWARDED_FOR", False)

# --- I18N / time ----------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

# --- Static files: served by the app itself (WhiteNoise), everything vendored ---------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if not DEBUG and env_bool("STATIC_MANIFEST", True)
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG or not env_bool("STATIC_MANIFEST", True)
# Files browsers ask for at the site's root (favicon.ico), served as they are.
WHITENOISE_ROOT = BASE_DIR / "static" / "root"

# --- Security (production values when DEBUG is off) -----------------------------------------------
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("TRUST_X_FORWARDED_PROTO", False) else None
)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SESSION_COOKIE_HTTPONLY = True
CSRF_FAILURE_VIEW = "config.error_views.csrf_failure"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
# Content-Security-Policy on every response (config/csp.py). Scripts only from this site, so
# no inline handlers (static/js/app.js binds them). Inline styles stay allowed: progress bars and
# chart swatches set widths and colours in style="", the self-contained 500 page and the reports'
# print styles are <style> blocks; styles cannot run code.
CONTENT_SECURITY_POLICY = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'", "'unsafe-inline'"],
    "img-src": ["'self'", "data:"],
    "font-src": ["'self'"],
    "connect-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'none'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}
# HSTS preload is a commitment to the browsers' list that only the site's owner can make
# (SECURE_HSTS_PRELOAD=true); its reminder is silenced by default.
SILENCED_SYSTEM_CHECKS = env_list("SILENCED_SYSTEM_CHECKS", ["security.W021"])

# --- Logging: one console stream; noisy libraries turned down -------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    # A reboot resets the SSH connection by design; paramiko would log that as an error.
    # django-axes logs every login at INFO; its lockouts are warnings.
    "loggers": {
        "paramiko": {"level": "WARNING"},
        "paramiko.transport": {"level": "CRITICAL"},
        "axes": {"level": "WARNING"},
    },
}

# --- REST export (api/): DRF, its OpenAPI schema and docs; /metrics (metrics/) --------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.authentication.HashedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 100,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Rebootable API",
    "DESCRIPTION": "Read-only export of hosts, facts, findings and rollouts; probe push.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI from the vendored sidecar package: the docs page needs no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": r"/api/v[0-9]+",
    "ENUM_NAME_OVERRIDES": {
        "RolloutStateEnum": "reboots.models.Rollout.State",
        "AttemptStateEnum": "reboots.models.RebootAttempt.State",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "api.schema.drop_backend_integer_ranges",
        "api.schema.add_error_responses",
        "api.schema.add_probe_push",
    ],
}
# /metrics answers a bearer token (METRICS_TOKEN, or METRICS_TOKEN_FILE) or listed client
# addresses/networks (METRICS_ALLOWED_IPS=127.0.0.1,10.0.0.0/8); with neither set it is closed.
METRICS_TOKEN = env_str("METRICS_TOKEN", "")
METRICS_ALLOWED_IPS = env_list("METRICS_ALLOWED_IPS", [])
for _network in METRICS_ALLOWED_IPS:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError as exc:
        raise ImproperlyConfigured(
            f"METRICS_ALLOWED_IPS: {_network!r} is not an IP address or network"
        ) from exc

# --- Fleet audits (fleet/): SSH, the probe, findings, the uptime policy ---------------------------
MAX_UPTIME_DAYS = env_int("MAX_UPTIME_DAYS", 30, minimum=1)
BOOT_SPACE_MIN_MB = env_int("BOOT_SPACE_MIN_MB", 100, minimum=0)
SSH_KEY_FILE = env_str("SSH_KEY_FILE", "")
SSH_USE_AGENT = env_bool("SSH_USE_AGENT", True)
SSH_CONNECT_TIMEOUT = env_float("SSH_CONNECT_TIMEOUT", 10.0, minimum=0.1)
SSH_COMMAND_TIMEOUT = env_float("SSH_COMMAND_TIMEOUT", 60.0, minimum=0.1)
SSH_CONCURRENCY = env_int("SSH_CONCURRENCY", 16, minimum=1)
AUDIT_CHUNK_SIZE = env_int("AUDIT_CHUNK_SIZE", 100, minimum=1)
AUDIT_INTERVAL_MINUTES = env_int("AUDIT_INTERVAL_MINUTES", 60, minimum=1)
PROBE_OUTPUT_MAX_BYTES = env_int("PROBE_OUTPUT_MAX_BYTES", 4 * 1024 * 1024, minimum=4096)
# Findings listed per host and kind; past it one "… and N more" finding stands for the rest.
FINDINGS_PER_KIND_MAX = env_int("FINDINGS_PER_KIND_MAX", 50, minimum=1)

# --- Rollout engine (reboots/): tick, leases, notifications, controller commands ------------------
ENGINE_TICK_SECONDS = env_float("ENGINE_TICK_SECONDS", 5.0, minimum=0.5)
# Host work renews its lease every third of this while it runs (a heartbeat); work whose worker
# died is taken over by the tick once the lease runs out (reboots/leases.py).
ENGINE_LEASE_SECONDS = env_float("ENGINE_LEASE_SECONDS", 30.0, minimum=3.0)
ENGINE_STALE_SECONDS = env_float(
    "ENGINE_STALE_SECONDS", max(60.0, 6 * ENGINE_TICK_SECONDS), minimum=1.0
)
# Webhook notifications go out through a Celery task. Tests that drive the engine in their own
# process turn this off and leave delivery to the code under test (reboots/notify.py).
REBOOTS_NOTIFY_VIA_CELERY = True
# Controller commands (where=controller) see only PATH, REBOOTABLE_* and the variables named
# here (reboots/commands.py): "KUBECONFIG,VAULT_ADDR,HOME". The product's own secrets cannot be
# named: a drain script has no business with the database or the session key.
CONTROLLER_COMMAND_ENV = env_list("CONTROLLER_COMMAND_ENV", [])
_NEVER_PASSED = {"SECRET_KEY", "DATABASE_URL", "REDIS_URL", "SSH_KEY_FILE", "METRICS_TOKEN"}
for _name in CONTROLLER_COMMAND_ENV:
    if not _name.isidentifier() or not _name.isascii():
        raise ImproperlyConfigured(f"CONTROLLER_COMMAND_ENV: {_name!r} is not a variable name")
    if _name in _NEVER_PASSED or _name.removesuffix("_FILE") in _NEVER_PASSED:
        raise ImproperlyConfigured(
            f"CONTROLLER_COMMAND_ENV: {_name} is one of Rebootable's own secrets; "
            "controller commands never see it"
        )

# --- Reboot cadence (cadence/): schedules run each minute; gate answers cached briefly ------------
CADENCE_SCHEDULER_SECONDS = env_float("CADENCE_SCHEDULER_SECONDS", 60.0, minimum=5.0)
CADENCE_GATE_CACHE_SECONDS = env_float("CADENCE_GATE_CACHE_SECONDS", 5.0, minimum=0.0)
# Outside gates are asked by their own beat task this often; the engine's tick only reads the
# answers and holds on one older than a few refreshes (cadence/gates.py).
CADENCE_GATE_REFRESH_SECONDS = env_float("CADENCE_GATE_REFRESH_SECONDS", 5.0, minimum=1.0)

# --- Traffic (traffic/): service checks are sampled in runs of this length, one after another --
TRAFFIC_SAMPLE_SECONDS = env_float("TRAFFIC_SAMPLE_SECONDS", 10.0, minimum=1.0)

# --- Outbound HTTP (webhooks, HTTP gates, Alertmanager; core/outbound.py) -------------------------
# Loopback, private and link-local addresses are refused unless allowed here.
# OUTBOUND_ALLOW_PRIVATE=true allows loopback and private ranges (a lab, a laptop; link-local
# stays refused); OUTBOUND_ALLOWED_NETWORKS=10.20.0.0/16,fd00:1::/64 allows exactly these ranges.
OUTBOUND_ALLOW_PRIVATE = env_bool("OUTBOUND_ALLOW_PRIVATE", False)
OUTBOUND_ALLOWED_NETWORKS = env_list("OUTBOUND_ALLOWED_NETWORKS", [])
for _network in OUTBOUND_ALLOWED_NETWORKS:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError as exc:
        raise ImproperlyConfigured(
            f"OUTBOUND_ALLOWED_NETWORKS: {_network!r} is not an IP address or network"
        ) from exc

# --- Retention (core/retention.py, `manage.py prune`, a daily beat task); 0 keeps forever ---------
RETENTION_DAYS = env_int("RETENTION_DAYS", 90, minimum=1)
RETENTION_AUDIT_DAYS = env_int("RETENTION_AUDIT_DAYS", RETENTION_DAYS, minimum=0)
RETENTION_EVENT_DAYS = env_int("RETENTION_EVENT_DAYS", 365, minimum=0)  # the audit log
RETENTION_RESOLVED_FINDING_DAYS = env_int(
    "RETENTION_RESOLVED_FINDING_DAYS", RETENTION_DAYS, minimum=0
)
RETENTION_ROLLOUT_DAYS = env_int("RETENTION_ROLLOUT_DAYS", 365, minimum=0)  # ended rollouts
RETENTION_BOOT_DAYS = env_int("RETENTION_BOOT_DAYS", 730, minimum=0)  # compliance history
RETENTION_NOTIFICATION_DAYS = env_int("RETENTION_NOTIFICATION_DAYS", 30, minimum=0)
# Service checks' per-minute results (traffic/): the availability history beside compliance.
RETENTION_SERVICE_CHECK_DAYS = env_int("RETENTION_SERVICE_CHECK_DAYS", 365, minimum=0)

# --- Celery: the broker, delivery that survives a lost worker or broker, the beat schedule --------
REDIS_URL = env_str("REDIS_URL", "")
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    # kombu's Redis transport, with the one failure that made a broker restart stop workers
    # turned into the connection error Celery recovers from (config/broker.py).
    CELERY_BROKER_TRANSPORT = "config.broker:Transport"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Redis hands an unacknowledged message to another worker after this. It must outlast
        # the longest task and countdown (webhook retries wait up to 18 min), or a live
        # worker's message runs twice. A whole worker lost is covered sooner by leases: the
        # engine re-dispatches work whose heartbeat stopped (ENGINE_LEASE_SECONDS).
        "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600, minimum=60),
        "socket_keepalive": True,
        "socket_connect_timeout": 5,
        "socket_timeout": 30,
        "retry_on_timeout": True,
        "health_check_interval": 10,
    }
else:
    # No Redis: kombu's filesystem transport needs no server, only shared folders, all in the
    # state dir (its exchange tables would otherwise land in ./control, in the source tree).
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    # kombu's filesystem transport, writing each message whole before a worker can see it
    # (config/broker.py).
    CELERY_BROKER_TRANSPORT = "config.broker:FilesystemTransport"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "store_processed": False,
        "control_folder": str(_broker_dir / "control"),
    }
CELERY_TASK_IGNORE_RESULT = True
# Host operations are acknowledged after they ran, and put back in the queue when the process
# running them dies (a SIGKILLed prefork child): another child takes them at once. A duplicate
# is harmless, every step checks the attempt's lease token (reboots/hostops.py).
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A broker restart must never stop a worker: reconnect at start-up and after a loss, forever.
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_RETRY = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_BROKER_CONNECTION_TIMEOUT = 4.0
CELERY_BROKER_POOL_LIMIT = 10
# Work running when the broker goes away goes on (its lease is in the database); it is not
# cancelled for a message that could not be acknowledged anyway.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
# Publishing (the engine's dispatch) retries briefly; what still fails is re-dispatched by the
# tick when its lease runs out.
CELERY_TASK_PUBLISH_RETRY = True
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 3,
    "interval_start": 0.2,
    "interval_step": 0.5,
    "interval_max": 1.0,
}
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TIMEZONE = "UTC"
# Each entry expires just under its interval, so a backlog never piles up runs.
CELERY_BEAT_SCHEDULE = {
    "engine-tick": {
        "task": "reboots.tasks.tick",
        "schedule": ENGINE_TICK_SECONDS,
        "options": {"expires": ENGINE_TICK_SECONDS * 0.9},
    },
    "fleet-audit": {
        "task": "fleet.tasks.audit_fleet",
        "schedule": AUDIT_INTERVAL_MINUTES * 60.0,
        "options": {"expires": AUDIT_INTERVAL_MINUTES * 60.0 * 0.9},
    },
    "cadence-schedules": {
        "task": "cadence.tasks.run_schedules",
        "schedule": CADENCE_SCHEDULER_SECONDS,
        "options": {"expires": CADENCE_SCHEDULER_SECONDS * 0.9},
    },
    "cadence-gates": {
        "task": "cadence.tasks.refresh_gates",
        "schedule": CADENCE_GATE_REFRESH_SECONDS,
        "options": {"expires": CADENCE_GATE_REFRESH_SECONDS * 0.9},
    },
    "traffic-sample": {
        "task": "traffic.tasks.sample_service_checks",
        "schedule": TRAFFIC_SAMPLE_SECONDS,
        "options": {"expires": TRAFFIC_SAMPLE_SECONDS * 0.9},
    },
    "retention-prune": {
        "task": "core.tasks.prune",
        "schedule": 24 * 3600.0,
        "options": {"expires": 23 * 3600.0},
    },
    # The Reports history (reports/rollup.py): yesterday's compliance, once it has ended (UTC).
    "reports-rollup": {
        "task": "reports.tasks.rollup",
        "schedule": crontab(hour=0, minute=10),
        "options": {"expires": 23 * 3600.0},
    },
}

# --- Tests: processes the suite starts (TESTING=true) hash passwords the fast way -----------------
if env_bool("TESTING", False):
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
