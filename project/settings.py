"""Metalyard settings: everything comes from the environment, with safe local defaults.

A first run needs nothing installed (SQLite, django-q2's ORM broker); production points
DATABASE_URL at PostgreSQL and REDIS_URL at Redis.
"""
from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG")
# The test runner (make test) and the dev server (make run) set METALYARD_DEV_KEYS so that
# a throw-away key is acceptable there; anywhere else a missing key is a refusal to start.
# DEBUG alone never brings the public development keys in: a production box started with DEBUG=1
# by mistake still needs its own keys (and `check --deploy` then says DEBUG is on).
DEV_KEYS = env_bool("METALYARD_DEV_KEYS")
# Development (make run, make test): plain-HTTP cookies, no HSTS. Anything else gets the production
# transport defaults below.
DEVELOPMENT = DEV_KEYS

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEV_KEYS:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Export SECRET_KEY=<a long random string> "
            "(python3 -c 'import secrets; print(secrets.token_urlsafe(50))'), or set METALYARD_DEV_KEYS=1 for local development."
        )
    SECRET_KEY = "insecure-development-only-secret-key-do-not-use-in-production"  # noqa: S105 - dev/test only

# Device secrets (BMC and switch passwords) are encrypted with their own key(s), so a
# leaked SECRET_KEY or database dump alone does not reveal them. Comma-separated Fernet
# keys: the first encrypts, all decrypt (rotation).
FIELD_ENCRYPTION_KEYS = env_list("METALYARD_ENCRYPTION_KEYS")
if not FIELD_ENCRYPTION_KEYS:
    if not DEV_KEYS:
        raise ImproperlyConfigured(
            "METALYARD_ENCRYPTION_KEYS is not set. Generate one with "
            "python3 -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())' "
            "and export it; keep it out of the database backups."
        )
    FIELD_ENCRYPTION_KEYS = ["ZGV2ZWxvcG1lbnQtb25seS1rZXktMzItYnl0ZXMhISE="]

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1],10.0.2.2")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "django_q",
    # Order matters for `manage.py demo`: each app seeds on top of the ones before it.
    "apps.audit",
    "apps.accounts",
    "apps.facilities",
    "apps.hardware",
    "apps.ipam",
    "apps.network",
    "apps.installs",
    "apps.billing",
    "apps.console",
    "apps.portal",
    "apps.api",
    "apps.lab",
]

MIDDLEWARE = [
    # First: requests of the provisioning listener get its URLconf and JSON errors (project/listeners.py).
    "project.listeners.ListenerMiddleware",
    # Then: the provisioning listener's per-address rate (machine endpoints), before any other work.
    "apps.installs.provisioning.MachineThrottleMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "apps.api.middleware.APIPathMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Login forms: a locked-out login name or address gets 429 before its password is checked.
    "apps.accounts.throttling.LoginThrottleMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "apps.audit.middleware.AuditContextMiddleware",
    # Last, so that it sees the views' exceptions first: API and machine routes answer JSON, never a debug page.
    "project.errors.JSONErrorMiddleware",
]

ROOT_URLCONF = "project.urls"
# The provisioning network's listener serves only the endpoints machines call, on its own address
# (the provisioning VLAN's; `manage.py provisioning_server`, or gunicorn project.provisioning_wsgi).
PROVISIONING_URLCONF = "project.provisioning_urls"
PROVISIONING_BIND = os.environ.get("METALYARD_PROVISIONING_BIND", "127.0.0.1:8001")
# Machines are recognised by their source address (the one Metalyard's DHCP reserved for the NIC).
# A DHCP relay or HTTP proxy in front of the listener is believed (X-Forwarded-For) only from these CIDRs.
PROVISIONING_TRUSTED_PROXIES = env_list("METALYARD_PROVISIONING_TRUSTED_PROXIES")
# The metadata service (/metadata, /userdata, the EC2 tree): calls a minute per caller address.
METADATA_RATE_PER_MINUTE = int(os.environ.get("METALYARD_METADATA_RATE_PER_MINUTE", "600"))
# Unknown machines' discovery reports are kept for staff, at most this many at a time.
DISCOVERY_MAX_MACHINES = int(os.environ.get("METALYARD_DISCOVERY_MAX_MACHINES", "1000"))
# Machines reach the listener by its address: accept that as a Host (and any other names given).
ALLOWED_HOSTS += [host for host in [PROVISIONING_BIND.rpartition(":")[0] or "127.0.0.1",
                                    *env_list("METALYARD_PROVISIONING_HOSTS")] if host not in ALLOWED_HOSTS]

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

WSGI_APPLICATION = "project.wsgi.application"
ASGI_APPLICATION = "project.asgi.application"

DATA_DIR = Path(os.environ.get("METALYARD_DATA_DIR", BASE_DIR / "var"))
DATABASE_URL = os.environ.get("DATABASE_URL") or f"sqlite:///{DATA_DIR / 'metalyard.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "60")))}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    # WAL lets the web server and the worker read while the other writes; the timeout
    # makes a writer wait for the lock instead of failing at once.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
IS_POSTGRES = DATABASES["default"]["ENGINE"].startswith("django.db.backends.postgresql")
if IS_POSTGRES and env_bool("METALYARD_DB_PREPARED", default=True):
    # Statements run through project.prepared.prepared_cursor() (the token lookup, the lean API reads) are prepared on
    # their first execution and planned once per connection; Django's own cursors bind on the client and never prepare.
    # METALYARD_DB_PREPARED=0 behind a pooler that does not keep prepared statements (PgBouncer in transaction mode < 1.21).
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.accounts.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "apps.api.pagination.MetalPagination",
    "DATETIME_FORMAT": "%Y-%m-%dT%H:%M:%SZ",  # as the real service writes them (project/timestamps.py)
    "PAGE_SIZE": 20,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "apps.api.exceptions.exception_handler",
    "DEFAULT_METADATA_CLASS": "apps.api.metadata.APIMetadata",
    "DEFAULT_RENDERER_CLASSES": ["apps.api.renderers.MetalJSONRenderer", "apps.api.renderers.MetalBrowsableAPIRenderer"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_THROTTLE_CLASSES": ["apps.accounts.throttling.APITokenThrottle", "apps.accounts.throttling.APIAddressThrottle"],
    "DEFAULT_PARSER_CLASSES": ["project.jsonbody.BoundedJSONParser", "rest_framework.parsers.FormParser",
                               "rest_framework.parsers.MultiPartParser"],
}
SPECTACULAR_SETTINGS = {"TITLE": "Metalyard API", "VERSION": "1.0.0"}

# django-q2. One shared cluster name (the signing salt and default queue); every facility
# runs its own cluster, named by facility code, listed in ALT_CLUSTERS. Start one with
# Q_CLUSTER_NAME=da11 python manage.py qcluster.
REDIS_URL = os.environ.get("REDIS_URL", "")
TASKS_SYNC = env_bool("METALYARD_TASKS_SYNC")
Q_CLUSTER: dict = {
    "name": "metalyard",
    "workers": int(os.environ.get("Q_WORKERS", "4")),
    "timeout": int(os.environ.get("Q_TIMEOUT", "600")),
    "retry": int(os.environ.get("Q_RETRY", "660")),
    "max_attempts": 1,
    "queue_limit": 200,
    "catch_up": False,
    "sync": TASKS_SYNC,
    "poll": 0.2,
    "save_limit": 5000,
    "ALT_CLUSTERS": {code: {} for code in env_list("METALYARD_FACILITY_CLUSTERS")},
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    # Django's own "django" logger is set to INFO by its defaults and propagates to the root handler:
    # give it LOG_LEVEL too, or LOG_LEVEL=ERROR would still print every 403 and 404.
    "loggers": {"django": {"level": os.environ.get("LOG_LEVEL", "INFO")}, "django.db.backends": {"level": "WARNING"}},
}

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
# Transport: on by default outside development (make run / make test set METALYARD_DEV_KEYS=1).
# TLS ends at the load balancer, which says so in X-Forwarded-Proto (METALYARD_PROXY_SSL_HEADER=0 when
# nothing sits in front and gunicorn serves TLS itself).
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", not DEVELOPMENT)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = int(os.environ.get("METALYARD_HSTS_SECONDS", "0" if DEVELOPMENT else "31536000"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("METALYARD_HSTS_INCLUDE_SUBDOMAINS", SECURE_HSTS_SECONDS > 0)
# Preloading is a promise to browsers that cannot be taken back quickly: the operator opts in.
SECURE_HSTS_PRELOAD = env_bool("METALYARD_HSTS_PRELOAD")
SECURE_SSL_REDIRECT = env_bool("METALYARD_SSL_REDIRECT", not DEVELOPMENT)
if env_bool("METALYARD_PROXY_SSL_HEADER", not DEVELOPMENT):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Machines fetch iPXE scripts, kernels and metadata over plain HTTP (stock iPXE has no TLS trust
# store): those paths are never redirected; the health check neither.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^ipxe/", r"^machine/", r"^discovery/", r"^netboot/", r"^metadata",
                          r"^userdata", r"^2009-04-04/", r"^latest/", r"^provisioning/"]
# Django's debug page hides settings named like KEY/SECRET/PASS/TOKEN; these also hold passwords.
DEFAULT_EXCEPTION_REPORTER_FILTER = "project.errors.SettingsHidingReporterFilter"

# JSON request bodies (API, machine endpoints): larger or deeper bodies are a 400, never parsed.
JSON_BODY_MAX_BYTES = int(os.environ.get("METALYARD_JSON_BODY_MAX_BYTES", str(1024 * 1024)))
JSON_BODY_MAX_DEPTH = int(os.environ.get("METALYARD_JSON_BODY_MAX_DEPTH", "32"))


# ---------------------------------------------------------------- hardware: BMC control
# Every BMC call is bounded by METALYARD_BMC_TIMEOUT seconds (a silent BMC costs at most that);
# retryable failures (no answer, refused) are retried METALYARD_BMC_ATTEMPTS times in all, waiting
# BACKOFF, 2×BACKOFF, 4×BACKOFF … between attempts. The power-state sync talks to at most
# METALYARD_BMC_SYNC_CONCURRENCY BMCs at once, so dead BMCs never delay the others.
BMC_TIMEOUT = float(os.environ.get("METALYARD_BMC_TIMEOUT", "10"))
BMC_ATTEMPTS = int(os.environ.get("METALYARD_BMC_ATTEMPTS", "3"))
BMC_BACKOFF = float(os.environ.get("METALYARD_BMC_BACKOFF", "2"))
BMC_SYNC_CONCURRENCY = int(os.environ.get("METALYARD_BMC_SYNC_CONCURRENCY", "32"))
BMC_SYNC_MINUTES = int(os.environ.get("METALYARD_BMC_SYNC_MINUTES", "10"))


# ---------------------------------------------------------------- network: switch automation
# Each NETCONF call is bounded; a push is about ten calls. Junos counts `commit confirmed` in minutes.
SWITCH_CONNECT_TIMEOUT = float(os.environ.get("METALYARD_SWITCH_CONNECT_TIMEOUT", "10"))
SWITCH_RPC_TIMEOUT = float(os.environ.get("METALYARD_SWITCH_RPC_TIMEOUT", "60"))
SWITCH_CONFIRM_MINUTES = int(os.environ.get("METALYARD_SWITCH_CONFIRM_MINUTES", "2"))
SWITCH_PORT_MTU = int(os.environ.get("METALYARD_SWITCH_PORT_MTU", "9216"))
# The switches' side of every customer BGP session (Equinix Metal used 65530 for local and global BGP).
BGP_SWITCH_ASN = int(os.environ.get("METALYARD_BGP_SWITCH_ASN", "65530"))
SWITCH_DRIFT_CHECK_MINUTES = int(os.environ.get("METALYARD_SWITCH_DRIFT_CHECK_MINUTES", "15"))
# A push holds its switch's lease at most this long (a worker that died mid-push frees it then).
SWITCH_PUSH_LEASE_SECONDS = int(os.environ.get("METALYARD_SWITCH_PUSH_LEASE_SECONDS", "900"))
# ncclient logs every NETCONF message at INFO; the push records (ConfigPush) are the readable trail.
LOGGING["loggers"].update({"ncclient": {"level": "WARNING"}, "paramiko": {"level": "WARNING"}})


# ---------------------------------------------------------------- ipam
# The covering (INCLUDE) indexes of the IP block tree are a PostgreSQL speed-up; SQLite builds them
# without the extra columns, which is fine, so its warning about that is silenced.
SILENCED_SYSTEM_CHECKS = [*globals().get("SILENCED_SYSTEM_CHECKS", []), "models.W040"]
# check --deploy: HSTS preload is the operator's choice (METALYARD_HSTS_PRELOAD=1), not a default.
if not SECURE_HSTS_PRELOAD:
    SILENCED_SYSTEM_CHECKS.append("security.W021")


# ---------------------------------------------------------------- installs
# Every step of an install has its own time limit (seconds); the waits for the machine are the
# long ones. The watchdog fails overdue waits and resumes steps whose worker vanished.
INSTALL_STEP_TIMEOUTS = {
    "default": int(os.environ.get("INSTALL_STEP_TIMEOUT", "120")),
    "queued": int(os.environ.get("INSTALL_QUEUED_TIMEOUT", "300")),
    "netboot": int(os.environ.get("INSTALL_POWER_TIMEOUT", "180")),
    "boot_disk": int(os.environ.get("INSTALL_POWER_TIMEOUT", "180")),
    "power_off": int(os.environ.get("INSTALL_POWER_TIMEOUT", "180")),
    "port": int(os.environ.get("INSTALL_PORT_TIMEOUT", "300")),
    "wait_ipxe": int(os.environ.get("INSTALL_NETBOOT_TIMEOUT", "600")),
    "wait_phone_home": int(os.environ.get("INSTALL_PHONE_HOME_TIMEOUT", "3600")),
    "wait_first_boot": int(os.environ.get("INSTALL_FIRST_BOOT_TIMEOUT", "900")),
    "wait_inventory": int(os.environ.get("INSTALL_INVENTORY_TIMEOUT", "900")),
}
# How many runs may be in their first platform steps at once (picking, addresses, switch port, power
# on); later orders stay `queued` until one of them reaches its machine. See docs/installs.md.
INSTALL_MAX_STARTING = int(os.environ.get("METALYARD_INSTALL_MAX_STARTING", "16"))
# A worker whose run gives its admission slot up goes on with the run it admits, for this many
# seconds at most per task (then the next run goes through the task queue).
INSTALL_INLINE_SECONDS = float(os.environ.get("METALYARD_INSTALL_INLINE_SECONDS", "60"))
INSTALL_STEP_MAX_ATTEMPTS = int(os.environ.get("INSTALL_STEP_MAX_ATTEMPTS", "3"))
INSTALL_RETRY_PAUSE = int(os.environ.get("INSTALL_RETRY_PAUSE", "10"))
# Where the platform serves installer kernels, initramfs and lab images from (/netboot/assets/…).
NETBOOT_ASSETS_DIR = Path(os.environ.get("METALYARD_NETBOOT_ASSETS", DATA_DIR / "netboot"))
INSTALLER_KERNEL_URL = os.environ.get("INSTALLER_KERNEL_URL", "/netboot/assets/vmlinuz")
INSTALLER_INITRD_URL = os.environ.get("INSTALLER_INITRD_URL", "/netboot/assets/installer.cpio.gz")
INSTALLER_KERNEL_ARGS = os.environ.get("INSTALLER_KERNEL_ARGS", "console=ttyS0 quiet")
# The serial console over SSH (docs/console.md): devices show `<id>@sos.<facility>.<SOS_DOMAIN>`.
SOS_DOMAIN = os.environ.get("METALYARD_SOS_DOMAIN", "metalyard.localhost")
# The SOS listener (`manage.py sos`): its address, its host key (made at first start), the facilities it
# serves (empty: all; in production one listener per facility, beside its workers), and its limits.
SOS_BIND = os.environ.get("METALYARD_SOS_BIND", "127.0.0.1:2222")
SOS_HOST_KEY = Path(os.environ.get("METALYARD_SOS_HOST_KEY", DATA_DIR / "sos_host_key"))
SOS_FACILITIES = [code for code in os.environ.get("METALYARD_SOS_FACILITIES", "").split(",") if code]
SOS_SCROLLBACK_BYTES = int(os.environ.get("METALYARD_SOS_SCROLLBACK_BYTES", str(64 * 1024)))
SOS_MAX_SESSIONS_PER_DEVICE = int(os.environ.get("METALYARD_SOS_MAX_SESSIONS_PER_DEVICE", "8"))
SOS_MAX_SESSIONS = int(os.environ.get("METALYARD_SOS_MAX_SESSIONS", "500"))
# The browser console (docs/console.md): `manage.py sos` also serves its websockets (ASGI, uvicorn) on
# CONSOLE_WEB_BIND (empty: SSH only; `make run` uses 127.0.0.1:8002), behind the site's proxy at /ws/. The
# device page connects to CONSOLE_WS_URL + /ws/… (empty: the page's own host; `{facility}` is replaced by the
# device's facility code).
CONSOLE_WEB_BIND = os.environ.get("METALYARD_CONSOLE_WEB_BIND", "")
CONSOLE_WS_URL = os.environ.get("METALYARD_CONSOLE_WS_URL", "")
# The proxies whose X-Forwarded-For names the browser's address in the console's session records.
CONSOLE_FORWARDED_ALLOW_IPS = os.environ.get("METALYARD_CONSOLE_FORWARDED_ALLOW_IPS", "127.0.0.1")
# How often an open browser console re-checks that its person is still signed in and may use it.
CONSOLE_RECHECK_SECONDS = float(os.environ.get("METALYARD_CONSOLE_RECHECK_SECONDS", "30"))
# Custom iPXE (docs/console.md): the customer's script is fetched once per run, bounded in time and size.
CUSTOM_IPXE_TIMEOUT = float(os.environ.get("METALYARD_CUSTOM_IPXE_TIMEOUT", "10"))
CUSTOM_IPXE_MAX_BYTES = int(os.environ.get("METALYARD_CUSTOM_IPXE_MAX_BYTES", str(64 * 1024)))
# The URL's host may not resolve to loopback, link-local, a provisioning network, a BMC or BMC_NETWORKS, nor to
# another private or reserved range unless it is listed here (CIDRs, comma-separated: an internal mirror).
CUSTOM_IPXE_ALLOWED_NETWORKS = env_list("METALYARD_CUSTOM_IPXE_ALLOWED_NETWORKS")
# The facilities' out-of-band (BMC) networks, CIDRs, comma-separated: never fetched from on a customer's behalf.
BMC_NETWORKS = env_list("METALYARD_BMC_NETWORKS")
# DHCP: the server, the file its generated configuration is written to, the boot URL iPXE clients get.
# METALYARD_DHCP_SERVER: dnsmasq (default) or kea (ISC Kea's kea-dhcp4).
DHCP_SERVER = os.environ.get("METALYARD_DHCP_SERVER", "dnsmasq")
DHCP_CONFIG_PATH = Path(os.environ.get("METALYARD_DHCP_CONFIG", DATA_DIR / "dhcp" / ("kea-dhcp4.conf" if DHCP_SERVER == "kea" else "dnsmasq.conf")))
DHCP_BOOT_URL = os.environ.get("METALYARD_DHCP_BOOT_URL", f"http://{PROVISIONING_BIND}/ipxe/boot.ipxe")
# Lab machines: where the emulated servers reach the platform, and how long their hardware takes
# (1.0 = realistic delays, 0 = none, for benchmarks).
LAB_PLATFORM_URL = os.environ.get("METALYARD_LAB_PLATFORM_URL", f"http://{PROVISIONING_BIND}")
LAB_MACHINE_DELAY_SCALE = float(os.environ.get("METALYARD_LAB_MACHINE_DELAY_SCALE", "1.0"))


# ---------------------------------------------------------------- lab

# Billing (docs/billing.md). The one rounding rule: a billed stretch is cut into increments of this many
# seconds counted from its start, and every started increment is billed in full (3600: each started hour).
BILLING_INCREMENT_SECONDS = int(os.environ.get("METALYARD_BILLING_INCREMENT_SECONDS", "3600"))
BILLING_CURRENCY = os.environ.get("METALYARD_BILLING_CURRENCY", "USD")
BILLING_DUE_DAYS = int(os.environ.get("METALYARD_BILLING_DUE_DAYS", "30"))
# The spot market (docs/billing.md): the price moves between these fractions of a plan's list price as its idle
# pool empties; a reclaimed spot device gets this much notice before it is deprovisioned.
SPOT_FLOOR_RATIO = float(os.environ.get("METALYARD_SPOT_FLOOR_RATIO", "0.2"))
SPOT_CEILING_RATIO = float(os.environ.get("METALYARD_SPOT_CEILING_RATIO", "1.0"))
SPOT_TERMINATION_NOTICE_SECONDS = int(os.environ.get("METALYARD_SPOT_TERMINATION_NOTICE_SECONDS", "120"))


# ---------------------------------------------------------------- quotas (docs/operations.md, Security: quotas)
# What one project and one organization may hold at most, unless staff set another limit for it in the admin
# (Accounts › Quotas). Enforced in the transaction that allocates, under the organization's row lock.
QUOTA_DEFAULTS = {
    "project": {
        "devices": int(os.environ.get("METALYARD_QUOTA_PROJECT_DEVICES", "100")),
        "public_ipv4_addresses": int(os.environ.get("METALYARD_QUOTA_PROJECT_PUBLIC_IPV4", "256")),
        "ipv6_blocks": int(os.environ.get("METALYARD_QUOTA_PROJECT_IPV6_BLOCKS", "16")),
    },
    "organization": {
        "devices": int(os.environ.get("METALYARD_QUOTA_ORGANIZATION_DEVICES", "400")),
        "public_ipv4_addresses": int(os.environ.get("METALYARD_QUOTA_ORGANIZATION_PUBLIC_IPV4", "1024")),
        "ipv6_blocks": int(os.environ.get("METALYARD_QUOTA_ORGANIZATION_IPV6_BLOCKS", "64")),
    },
}
# A device's userdata, in bytes (the real service's limit: 64 KiB).
USERDATA_MAX_BYTES = int(os.environ.get("METALYARD_USERDATA_MAX_BYTES", str(64 * 1024)))



# ---------------------------------------------------------------- throttling (docs/operations.md, Security: throttling)
# Counted in Django's cache: Redis (METALYARD_CACHE_URL, else REDIS_URL) so that every web process shares the counts;
# without either, each process counts for itself (development).
CACHE_URL = os.environ.get("METALYARD_CACHE_URL") or REDIS_URL
if CACHE_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL, "KEY_PREFIX": "metalyard"}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "metalyard"}}
# <count>/<period> (second, minute, hour, day; s/m/h/d; e.g. 5/15m). Past the count a caller gets 429 and Retry-After.
THROTTLE_RATES = {
    # The API (/metal/v1/, /api/): per token (a session: per user), and per client address whoever calls
    # (wrong tokens count against their address too).
    "api_token": os.environ.get("METALYARD_THROTTLE_API_TOKEN", "1200/minute"),
    "api_address": os.environ.get("METALYARD_THROTTLE_API_ADDRESS", "2400/minute"),
    # Login forms (portal and admin): failed sign-ins per login name and per address; past them, a lockout until
    # the window (from the first failure) closes, the right password included. A success clears the name's count.
    "login_username": os.environ.get("METALYARD_THROTTLE_LOGIN_USERNAME", "5/15m"),
    "login_address": os.environ.get("METALYARD_THROTTLE_LOGIN_ADDRESS", "20/15m"),
    # The provisioning listener (iPXE, machine calls, discovery, netboot assets, metadata): per machine address.
    "machine_address": os.environ.get("METALYARD_THROTTLE_MACHINE_ADDRESS", "300/minute"),
}
LOGIN_THROTTLE_PATHS = ["/accounts/login/", "/admin/login/"]
# Load balancers in front of the public site (CIDRs): behind them the client address is taken from X-Forwarded-For.
TRUSTED_PROXIES = env_list("METALYARD_TRUSTED_PROXIES")
