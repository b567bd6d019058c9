"""Settings for Julia Monitor, read from the environment.

With no environment at all the portal runs the embedded demo: SQLite, the django-q2 ORM
broker, a local-memory cache and the built-in gateway simulator. Production sets
``DATABASE_URL``, ``REDIS_URL``, ``EVOLUTION_API_URL`` and friends (see ``.env.example``).
Unsafe production configuration stops the process at import with a clear message.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from julia_monitor.lib.failover_cache import SHARED_CACHE_TABLE, failover_caches
from julia_monitor.lib.logs import FORMATS, logging_config
from julia_monitor.lib.pings import is_http_url

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), got {raw!r}")


def env_int(name: str, default: int, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be >= {minimum}, got {value}")
    return value


def env_float(name: str, default: float, minimum: float = 0.0) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, got {raw!r}") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be >= {minimum}, got {value}")
    return value


def env_list(name: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]


DEBUG = env_bool("DEBUG", default=True)

# A development key is fine on a laptop; production must bring its own.
_DEV_SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"  # noqa: S105
SECRET_KEY = env_str("SECRET_KEY") or _DEV_SECRET_KEY
if not DEBUG and SECRET_KEY == _DEV_SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
if not DEBUG and len(SECRET_KEY) < 50:
    raise ImproperlyConfigured("SECRET_KEY must be at least 50 characters when DEBUG is off.")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS") or (["127.0.0.1", "localhost", "testserver"] if DEBUG else [])
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set when DEBUG is off.")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

# Public address of the portal, used in links inside alerts.
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "ninja",  # serves the Swagger assets locally instead of from a CDN
    "django_q",
    "import_export",  # doctors' spreadsheets (CSV/XLSX) in the admin
    "julia_monitor.apps.LoginLockoutConfig",  # django-axes: login lockout after repeated failures
    "instances",
    "alerts",
    "julia_monitor",  # the portal: roles, people commands, the demo, the site stylesheet
]

MIDDLEWARE = [
    # First: a NUL or broken encoding in the address is refused before anything reads it.
    "julia_monitor.request_guard.RejectMalformedAddressMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # After WhiteNoise, which answers static files itself: they keep their long caching.
    "julia_monitor.middleware.NoStoreMiddleware",
    # Outside every layer that can refuse a request: an error under /dashboard/ leaves as JSON.
    "julia_monitor.api_errors.JsonApiErrorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "julia_monitor.middleware.DatabaseUnavailableMiddleware",  # a lost database is a 503, not a 500
    # Last, as django-axes asks: turns a lockout into the "too many attempts" page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "julia_monitor.urls"
WSGI_APPLICATION = "julia_monitor.wsgi.application"
ASGI_APPLICATION = "julia_monitor.asgi.application"

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
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    # Persistent connections by default (a new PostgreSQL connection per webhook caps
    # ingestion at ~80/s); DB_POOL=true uses psycopg's pool instead, which needs age 0.
    DB_POOL = env_bool("DB_POOL", default=False)
    DATABASES = {
        "default": dj_database_url.parse(
            DATABASE_URL,
            conn_max_age=0 if DB_POOL else env_int("DB_CONN_MAX_AGE", 60),
            # A SELECT 1 before each request's first query costs ~15 % of webhook throughput;
            # without it, the one request that meets a connection broken by a database restart
            # fails (Evolution retries it) and Django drops that connection.
            conn_health_checks=env_bool("DB_HEALTH_CHECKS", default=False),
        )
    }
    DATABASES["default"].setdefault("OPTIONS", {})
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # A database host that stops answering (a partition, a frozen server) must fail a
        # request in seconds, not after the operating system's TCP timeout.
        DATABASES["default"]["OPTIONS"]["connect_timeout"] = env_int("DB_CONNECT_TIMEOUT", 5)
        if DB_POOL:
            # Never in the qcluster process: its workers are forked (django-q2 #209).
            DATABASES["default"]["OPTIONS"]["pool"] = {"min_size": 1, "max_size": 8}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            # A str, as Django documents NAME (and as dj_database_url's DBConfig, which types DATABASES, says).
            "NAME": str(Path(env_str("SQLITE_PATH") or BASE_DIR / "var" / "julia_monitor.sqlite3")),
            # Tests get an in-memory database that Django shares between threads.
            "OPTIONS": {},
        }
    }

IS_SQLITE = DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"
if IS_SQLITE:
    # WAL lets readers and one writer work at once; IMMEDIATE takes the write lock at
    # BEGIN, so two writers queue on busy_timeout instead of failing with "database is
    # locked" when a read transaction tries to upgrade to a write.
    DATABASES["default"]["OPTIONS"].update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;",
        }
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and shared state --------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL")
_REDIS_OPTIONS = {"socket_connect_timeout": 1, "socket_timeout": 1}
# Circuit-breaker state must be seen by the worker and every web process alike: Redis when
# there is one, else a database table (created by a migration). With Redis, both caches fail
# over while it is unreachable (julia_monitor/lib/failover_cache.py): "shared" to that same
# table, so the processes still agree; "default" to process memory. The first failure marks
# Redis down for CACHE_RETRY_SECONDS in the process, so an outage costs one timeout per interval.
_LOCAL_CACHE = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
_DATABASE_CACHE = {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": SHARED_CACHE_TABLE}
CACHE_RETRY_SECONDS = env_int("CACHE_RETRY_SECONDS", 10, minimum=0)
CACHE_ALERT_AFTER_SECONDS = env_int("CACHE_ALERT_AFTER_SECONDS", 60, minimum=0)
CACHES = (
    failover_caches(REDIS_URL, _REDIS_OPTIONS) if REDIS_URL else {"default": _LOCAL_CACHE, "shared": _DATABASE_CACHE}
)

# --- django-q2 ----------------------------------------------------------------------------
Q_CLUSTER: dict[str, str | int | bool] = {
    "name": "julia-monitor",
    "workers": env_int("Q_WORKERS", 2, minimum=1),
    # A one-minute job must finish well inside the minute; retry > timeout or the ORM
    # broker hands a slow task out twice.
    "timeout": 50,
    "retry": 70,
    "max_attempts": 1,
    "catch_up": False,
    "save_limit": 200,
    "ack_failures": True,
    "label": "Tarefas",
}
# The task broker: Redis when REDIS_URL is set, the database otherwise. TASK_BROKER=orm keeps the
# database broker beside Redis: slower to hand out tasks, but the cycle then keeps running
# through a Redis outage (with the Redis broker, no task runs until Redis is back).
TASK_BROKER = env_str("TASK_BROKER").lower() or ("redis" if REDIS_URL else "orm")
if TASK_BROKER not in ("redis", "orm"):
    raise ImproperlyConfigured(f"TASK_BROKER must be redis or orm, got {TASK_BROKER!r}")
if TASK_BROKER == "redis" and not REDIS_URL:
    raise ImproperlyConfigured("TASK_BROKER=redis needs REDIS_URL")
if TASK_BROKER == "redis":
    # Redis is the broker: tasks are handed out by BLPOP, so any number of qclusters (on one
    # machine or several sharing PostgreSQL and this Redis) take the work without polling the
    # database. It has no receipts: a task whose worker dies is lost, and the next minute's
    # schedule (with the cycle's lease) is what recovers. The schedule itself stays in the
    # database, where the scheduler's SELECT … FOR UPDATE keeps several clusters from
    # enqueuing the same minute twice. ``retry`` above only matters to the ORM broker.
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"  # same alias as the app (django-q2 #293)

# The minute's check cycle split into this many tasks, each probing a stable slice of the
# fleet (instances.rounds), so that many qcluster processes share it. 1 = one whole-fleet cycle.
CHECK_SHARDS = env_int("CHECK_SHARDS", 1, minimum=1)

# --- Auth, i18n, static -------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"

# Brute-force protection (django-axes) on every password login: the portal's and the admin's.
# A lockout is per username *and* client address: an attacker guessing from one address locks
# only that name from that address, so they cannot lock a person out from everywhere.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_COOLOFF_MINUTES", 15, minimum=1))
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "julia_monitor.lockout.locked_out"
AXES_CLIENT_IP_CALLABLE = "julia_monitor.lib.client_ip.client_ip"
# How many reverse proxies in front of the portal append to X-Forwarded-For; 0 (the default)
# trusts no header and takes the connection's address.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)
LOGIN_REDIRECT_URL = "fleet-overview"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "pt-br"
# pt-BR words for the parts of the admin that libraries ship only in English (django-axes).
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "America/Sao_Paulo"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# --- Security (production) ----------------------------------------------------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_TLS_PROXY", False) else None
if not DEBUG:
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
    CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", True)
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    # Preloading is an opt-in: browsers ship the domain as HTTPS-only for months, and taking it
    # back out of the list is slow. Off, check --deploy's W021 ("not preloaded") is the choice made.
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
    if not SECURE_HSTS_PRELOAD:
        SILENCED_SYSTEM_CHECKS = ["security.W021"]
    SECURE_REDIRECT_EXEMPT = [r"^dashboard/health$"]  # load balancers probe over plain HTTP
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (django-csp): scripts and styles only from our own static files, no
# inline code; NONCE is filled in only where a template asks for ``request.csp_nonce`` (the
# standalone error pages' one <style>). data: images are the icons inside Swagger UI's and the
# admin's stylesheets. The SVG charts use presentation attributes, which CSP does not govern.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, NONCE],
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# django-import-export (doctors' spreadsheets): the import runs in one transaction; an exported
# cell starting with "=" loses it, so no spreadsheet runs a name as a formula.
IMPORT_EXPORT_USE_TRANSACTIONS = True
IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT = True

# --- Evolution gateway ----------------------------------------------------------------------
# With no gateway configured, the portal talks to the built-in simulator (`make run`
# starts it on this address with this key).
SIMULATOR_PORT = env_int("SIMULATOR_PORT", 8081, minimum=1)
EVOLUTION_API_URL = env_str("EVOLUTION_API_URL").rstrip("/")
EVOLUTION_API_KEY = env_str("EVOLUTION_API_KEY")
USING_SIMULATOR = not EVOLUTION_API_URL
if USING_SIMULATOR:
    if not DEBUG:
        raise ImproperlyConfigured("EVOLUTION_API_URL must be set when DEBUG is off.")
    EVOLUTION_API_URL = f"http://127.0.0.1:{SIMULATOR_PORT}"
    EVOLUTION_API_KEY = EVOLUTION_API_KEY or "simulator-key"
elif not EVOLUTION_API_KEY:
    raise ImproperlyConfigured("EVOLUTION_API_KEY must be set together with EVOLUTION_API_URL.")

EVOLUTION_TIMEOUT = env_float("EVOLUTION_TIMEOUT", 5.0, minimum=0.1)
# A cap on probes in flight; 0 (unset): none beyond the client's own sizing from the fleet
# (instances.gateway.sizing), which is what keeps a prompt instance from failing in line.
EVOLUTION_CONCURRENCY = env_int("EVOLUTION_CONCURRENCY", 0, minimum=0)
EVOLUTION_WEBHOOK_SECRET = env_str("EVOLUTION_WEBHOOK_SECRET")
if not DEBUG and not EVOLUTION_WEBHOOK_SECRET:
    raise ImproperlyConfigured("EVOLUTION_WEBHOOK_SECRET must be set when DEBUG is off.")
# It signs Evolution's webhook tokens (HS256 wants a key of at least 256 bits) and, for the
# global webhook, travels in the URL: it must not be guessable.
if not DEBUG and len(EVOLUTION_WEBHOOK_SECRET) < 32:
    raise ImproperlyConfigured("EVOLUTION_WEBHOOK_SECRET must be at least 32 characters when DEBUG is off.")

# Capacities given to instances discovered on the gateway (editable per instance).
DEFAULT_CAPACITY_PER_HOUR = env_int("DEFAULT_CAPACITY_PER_HOUR", 30, minimum=1)
DEFAULT_CAPACITY_PER_DAY = env_int("DEFAULT_CAPACITY_PER_DAY", 200, minimum=1)

# How old the check cycle's last run may be before health fails.
MONITOR_STALE_AFTER_SECONDS = env_int("MONITOR_STALE_AFTER_SECONDS", 180, minimum=60)
# A status not read from the gateway for this long is shown as unknown and never counted
# online (three missed cycles by default).
STATUS_STALE_AFTER_SECONDS = env_int("STATUS_STALE_AFTER_SECONDS", 180, minimum=30)
# Gateway circuit breaker: open after this many failed cycles in a row, retry after the cooldown.
CIRCUIT_FAILURE_THRESHOLD = env_int("CIRCUIT_FAILURE_THRESHOLD", 3, minimum=1)
CIRCUIT_COOLDOWN_SECONDS = env_int("CIRCUIT_COOLDOWN_SECONDS", 60, minimum=1)
# How long message ids are kept for de-duplication of gateway retries.
MESSAGE_ID_RETENTION_DAYS = env_int("MESSAGE_ID_RETENTION_DAYS", 3, minimum=1)

# Dead-man's heartbeat (docs/heartbeat.md): every check cycle pings this Healthchecks-style URL
# (its path is a secret), ``<url>/fail`` when the cycle failed; empty = off.
MONITOR_HEARTBEAT_URL = env_str("MONITOR_HEARTBEAT_URL")
if MONITOR_HEARTBEAT_URL and not is_http_url(MONITOR_HEARTBEAT_URL):
    raise ImproperlyConfigured("MONITOR_HEARTBEAT_URL must be an http:// or https:// URL with a host.")
MONITOR_HEARTBEAT_TIMEOUT = env_float("MONITOR_HEARTBEAT_TIMEOUT", 5.0, minimum=0.1)

# How often the overview page refreshes its live part, in seconds.
OVERVIEW_REFRESH_SECONDS = env_float("OVERVIEW_REFRESH_SECONDS", 5.0, minimum=1.0)
# Rows per page of the overview: a larger fleet is read a page at a time, problems first.
OVERVIEW_PER_PAGE = env_int("OVERVIEW_PER_PAGE", 1000, minimum=1)
if OVERVIEW_PER_PAGE > 1000:  # the fleet filter's own limit (instances.fleet_filters.PER_PAGE_MAX)
    raise ImproperlyConfigured(f"OVERVIEW_PER_PAGE must be <= 1000, got {OVERVIEW_PER_PAGE}")

# --- Alerts ------------------------------------------------------------------------------------
# An instance must stay not-connected this long before "offline" fires (a reconnect blip is
# not an outage); a terminal close reported by the gateway fires at once.
OFFLINE_DEBOUNCE_SECONDS = env_int("OFFLINE_DEBOUNCE_SECONDS", 60, minimum=0)
# "Gateway inacessível" waits this long of failing cycles (health shows the failure at once).
GATEWAY_ALERT_AFTER_SECONDS = env_int("GATEWAY_ALERT_AFTER_SECONDS", 90, minimum=0)
# "Instância instável": this many drops from connected within the window, however short each.
FLAP_DROPS = env_int("FLAP_DROPS", 3, minimum=2)
FLAP_WINDOW_MINUTES = env_int("FLAP_WINDOW_MINUTES", 15, minimum=1)
# A banned instance's doctors move to healthy numbers with room (instances/doctor_moves.py).
MIGRATE_DOCTORS_ON_BAN = env_bool("MIGRATE_DOCTORS_ON_BAN", True)
CAPACITY_ALERT_PCT = env_float("CAPACITY_ALERT_PCT", 80.0, minimum=1.0)
CONSECUTIVE_FAILURES_ALERT = env_int("CONSECUTIVE_FAILURES_ALERT", 5, minimum=1)
# Capacity forecast (docs/forecast.md): no forecast before this many minutes and messages in
# the hour or day; "Limite diário previsto" fires when the day's limit is forecast more than
# FORECAST_ALERT_MARGIN_MINUTES before midnight.
FORECAST_MIN_MINUTES = env_int("FORECAST_MIN_MINUTES", 10, minimum=1)
FORECAST_MIN_MESSAGES = env_int("FORECAST_MIN_MESSAGES", 10, minimum=1)
FORECAST_ALERT_MARGIN_MINUTES = env_int("FORECAST_ALERT_MARGIN_MINUTES", 60, minimum=0)
# Unacknowledged alerts remind every so many minutes (0 = never); warnings do not remind.
REMINDER_MINUTES = {
    "critical": env_int("REMINDER_MINUTES_CRITICAL", 30),
    "error": env_int("REMINDER_MINUTES_ERROR", 60),
    "warning": env_int("REMINDER_MINUTES_WARNING", 0),
}

# Slack: an incoming webhook, or a bot token + channel (chat.postMessage).
SLACK_WEBHOOK_URL = env_str("SLACK_WEBHOOK_URL")
SLACK_BOT_TOKEN = env_str("SLACK_BOT_TOKEN")
SLACK_CHANNEL = env_str("SLACK_CHANNEL", "#julia-alertas")
SLACK_API_URL = env_str("SLACK_API_URL", "https://slack.com/api/")
SLACK_TIMEOUT = env_int("SLACK_TIMEOUT", 10, minimum=1)
# The Slack app's signing secret: with a bot token, posts carry Reconhecer / Resolver buttons
# and POST /slack/interactions accepts the presses Slack signs with it (docs/slack.md).
SLACK_SIGNING_SECRET = env_str("SLACK_SIGNING_SECRET")
if not DEBUG and SLACK_SIGNING_SECRET and len(SLACK_SIGNING_SECRET) < 32:
    raise ImproperlyConfigured("SLACK_SIGNING_SECRET must be Slack's 32-character signing secret when DEBUG is off.")

# Email: recipients of ban alerts, and Django's SMTP settings.
ALERT_EMAILS = env_list("ALERT_EMAILS")
EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10, minimum=1)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Julia Monitor <monitor@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# Delivery: retries with exponential backoff, about one message a second per channel.
NOTIFICATION_MAX_ATTEMPTS = env_int("NOTIFICATION_MAX_ATTEMPTS", 12, minimum=1)
NOTIFICATION_BACKOFF_SECONDS = env_float("NOTIFICATION_BACKOFF_SECONDS", 10.0, minimum=0.0)
NOTIFICATION_BACKOFF_MAX_SECONDS = env_float("NOTIFICATION_BACKOFF_MAX_SECONDS", 600.0, minimum=0.0)
CHANNEL_MIN_INTERVAL_SECONDS = env_float("CHANNEL_MIN_INTERVAL_SECONDS", 1.0, minimum=0.0)

# --- Metrics (GET /metrics, docs/metrics.md) ----------------------------------------------------
# Prometheus scrapes with ``Authorization: Bearer <METRICS_TOKEN>`` (or an API key). Empty and no
# active API key: /metrics does not exist (404). It reveals instance names and the fleet's state.
METRICS_TOKEN = env_str("METRICS_TOKEN")
if not DEBUG and METRICS_TOKEN and len(METRICS_TOKEN) < 32:
    raise ImproperlyConfigured("METRICS_TOKEN must be at least 32 characters when DEBUG is off.")

# --- Logging ----------------------------------------------------------------------------------
LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
# text: one human-readable line per record; json: one JSON object per line (docs/logs.md).
LOG_FORMAT = env_str("LOG_FORMAT", "text").lower()
if LOG_FORMAT not in FORMATS:
    raise ImproperlyConfigured(f"LOG_FORMAT must be one of {', '.join(FORMATS)}, got {LOG_FORMAT!r}")
LOGGING = logging_config(LOG_FORMAT, LOG_LEVEL)
LOGGING_CONFIG = "julia_monitor.lib.logs.configure"
