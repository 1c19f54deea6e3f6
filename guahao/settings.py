"""Guahao settings: one file, every value from an environment variable.

The embedded default needs nothing set: data lives under ``GUAHAO_DATA_DIR`` (``./var``) in a
SQLite file, jobs run on a SQLite-backed Huey, cache and rate limits are in-process.
``DATABASE_URL`` (``sqlite:///path`` or ``postgres://…``) and ``REDIS_URL`` switch to the
at-scale parts. A bad value stops the process at start with a message naming the variable.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
from pathlib import Path
from typing import Any

import dj_database_url
from csp.constants import NONE, SELF, UNSAFE_EVAL, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent


def env_str(name: str, default: str | None = None) -> str:
    """A string from the environment, or from the file named by NAME_FILE (secrets)."""
    file_name = os.environ.get(f"{name}_FILE")
    if file_name:
        try:
            return Path(file_name).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE={file_name!r} cannot be read: {exc}") from exc
    value = os.environ.get(name)
    if value is None or value == "":
        if default is None:
            raise ImproperlyConfigured(f"{name} must be set")
        return default
    return value


def env_int(name: str, default: int, *, low: int | None = None, high: int | None = None) -> int:
    raw = env_str(name, str(default))
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a whole number") from None
    if (low is not None and value < low) or (high is not None and value > high):
        raise ImproperlyConfigured(f"{name}={value} is outside {low}..{high}")
    return value


def env_bool(name: str, default: bool) -> bool:
    raw = env_str(name, "on" if default else "off").lower()
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} must be on or off")


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = env_str(name, default)
    if value not in choices:
        raise ImproperlyConfigured(f"{name}={value!r} must be one of {', '.join(choices)}")
    return value


DATA_DIR = Path(env_str("GUAHAO_DATA_DIR", str(Path.cwd() / "var"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    """The secret from the environment, or one made once and kept in the data directory."""
    if os.environ.get("GUAHAO_SECRET_KEY") or os.environ.get("GUAHAO_SECRET_KEY_FILE"):
        key = env_str("GUAHAO_SECRET_KEY")
    else:
        path = DATA_DIR / "secret_key"
        if not path.exists():
            path.write_text(secrets.token_urlsafe(48), encoding="utf-8")
            path.chmod(0o600)
        key = path.read_text(encoding="utf-8").strip()
    if len(key) < 32:
        raise ImproperlyConfigured("GUAHAO_SECRET_KEY must be at least 32 characters")
    return key


SECRET_KEY = _secret_key()
# Personal data (ID numbers) is encrypted with a key of its own, so it can be rotated apart from
# the session secret. Unset, it is derived from SECRET_KEY.
FIELD_KEY = env_str("GUAHAO_FIELD_KEY", "") or SECRET_KEY
# Keys being rotated away from (comma-separated, or a file of them): still read, never written;
# `guahao rotate-keys` seals and hashes everything again under GUAHAO_FIELD_KEY (README).
FIELD_KEYS_PREVIOUS = tuple(
    k.strip() for k in env_str("GUAHAO_FIELD_KEYS_PREVIOUS", "").replace("\n", ",").split(",") if k.strip()
)
if FIELD_KEY in FIELD_KEYS_PREVIOUS:
    raise ImproperlyConfigured("GUAHAO_FIELD_KEYS_PREVIOUS must not hold the current GUAHAO_FIELD_KEY")

DEBUG = env_bool("GUAHAO_DEBUG", False)
ALLOWED_HOSTS = [h.strip() for h in env_str("GUAHAO_ALLOWED_HOSTS", "*").split(",") if h.strip()]
CSRF_TRUSTED_ORIGINS = [o.strip() for o in env_str("GUAHAO_CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()]

# Served over HTTPS (a TLS proxy in front): cookies only over HTTPS, and browsers told to keep to
# HTTPS for a year (HSTS is sent on HTTPS answers only). `guahao demo` serves plain HTTP on the
# loopback and turns it off.
HTTPS = env_bool("GUAHAO_HTTPS", True)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = HTTPS
SESSION_COOKIE_HTTPONLY = True
SECURE_HSTS_SECONDS = 365 * 24 * 3600 if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = False  # a hospital's other sites are not ours to bind
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Only behind a proxy that sets it (and strips a client's own): X-Forwarded-Proto says HTTPS.
if env_bool("GUAHAO_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

INSTALLED_APPS = [
    "csp",
    "guahao.console.apps.ConsoleUnfoldConfig",  # unfold, with the console's own admin site
    "unfold.contrib.filters",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "huey.contrib.djhuey",
    "ninja",  # serves /api/v1/docs with Swagger UI from our static files, not a CDN
    "django_otp",
    "django_otp.plugins.otp_totp",
    "axes",
    "guahao.core",
    "guahao.catalog",
    "guahao.scheduling",
    "guahao.accounts",
    "guahao.booking",
    "guahao.payments",
    "guahao.his",
    "guahao.notifications",
    "guahao.waitlist",
    "guahao.console",
    "guahao.web",
]

MIDDLEWARE = [
    "guahao.core.logs.RequestId",
    "guahao.core.cache.RequestReads",
    "guahao.core.metrics.RequestMetrics",
    "guahao.api.middleware.ApiBody",
    "guahao.api.middleware.RefusedForEveryone",
    "guahao.api.middleware.BearerLane",
    "django.middleware.security.SecurityMiddleware",
    "guahao.web.middleware.ContentSecurityPolicy",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "guahao.web.middleware.PatientLanguage",
    "guahao.web.middleware.PostOnly",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "guahao.console.middleware.StaffIdle",
    "guahao.console.middleware.StaffTimezone",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
]

# Content-Security-Policy (django-csp): the patient web app runs our own static scripts and styles
# alone — no inline <script>, no style="" — so an injected tag runs nothing. Forms may post to
# the payment provider's cashier after a redirect, so form-action is left open.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "font-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "frame-ancestors": [NONE],
    }
}
# The console (django-unfold): its Alpine.js builds x-data expressions with Function()
# ('unsafe-eval') and its templates carry style attributes ('unsafe-inline' for styles only).
CONSOLE_CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        **CONTENT_SECURITY_POLICY["DIRECTIVES"],
        "script-src": [SELF, UNSAFE_EVAL],
        "style-src": [SELF, UNSAFE_INLINE],
    }
}

ROOT_URLCONF = "guahao.urls"
WSGI_APPLICATION = "guahao.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "guahao.web.views.context",
            ]
        },
    }
]

# --- database -------------------------------------------------------------------------------

DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{DATA_DIR / 'guahao.sqlite3'}")
try:
    _db: dict[str, Any] = dict(dj_database_url.parse(DATABASE_URL))
except ValueError as exc:
    raise ImproperlyConfigured(f"DATABASE_URL is not understood: {exc}") from exc

DB_POOL_MAX = env_int("GUAHAO_DB_POOL_MAX", 4, low=0, high=200)
if _db["ENGINE"] == "django.db.backends.sqlite3":
    _db["OPTIONS"] = {
        # Writers take the lock when their transaction begins: two transactions can then never
        # both read and then both try to upgrade to a write (which SQLite answers with "locked"
        # at once, ignoring the busy timeout).
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
    }
    _db["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}
    # Each web thread keeps its connection: opening one (its PRAGMAs) and closing it (the last
    # one out checkpoints the WAL) cost most of a small request's time.
    _db["CONN_MAX_AGE"] = None
elif _db["ENGINE"] == "django.db.backends.postgresql":
    _db["CONN_MAX_AGE"] = 0
    if DB_POOL_MAX:
        # Small pools: a hot row is served faster by a few connections than by many.
        _db["OPTIONS"] = {"pool": {"min_size": 1, "max_size": DB_POOL_MAX, "timeout": 30}}
else:
    raise ImproperlyConfigured("DATABASE_URL must be sqlite:///… or postgres://…")
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- cache, rate limits, jobs -----------------------------------------------------------------

REDIS_URL = env_str("REDIS_URL", "")
CACHES: dict[str, dict[str, Any]]
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "guahao.core.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "guahao",
        }
    }
    HUEY = {
        "huey_class": "guahao.core.jobs.OncePerTickRedisHuey",  # periodic jobs queued once by N workers
        "name": "guahao",
        "url": REDIS_URL,
        "immediate": False,
        "consumer": {"workers": 2, "worker_type": "thread"},
    }
else:
    # Each process's own memory: room for a release's crowd of tokens (Django's default is 300).
    CACHES = {"default": {"BACKEND": "guahao.core.cache.LocalCache", "OPTIONS": {"MAX_ENTRIES": 20000}}}
    HUEY = {
        "huey_class": "guahao.core.jobs.OncePerTickSqliteHuey",
        "name": "guahao",
        "filename": str(DATA_DIR / "jobs.sqlite3"),
        "immediate": False,
        "consumer": {"workers": 1, "worker_type": "thread"},
    }

RATELIMIT_ENABLED = env_bool("GUAHAO_RATELIMIT", True)
# Proxies of ours in front (load balancer, TLS proxy): the client's address is the one the
# outermost of them wrote into X-Forwarded-For (core.addresses); 0: the connection's own.
PROXY_HOPS = env_int("GUAHAO_PROXY_HOPS", 0, low=0, high=5)
# After a commit that wrote events, ask the worker to deliver them in a second (core.outbox);
# off: only the periodic sweep delivers (tests deliver by hand).
OUTBOX_KICK = env_bool("GUAHAO_OUTBOX_KICK", True)

# Payments: the provider every method goes through, and the sandbox's address and merchant.
# GUAHAO_PUBLIC_URL is where providers send their notifications.
PUBLIC_URL = env_str("GUAHAO_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")
# "sandbox": every method goes to the payment sandbox; "live": WeChat Pay and Alipay, each
# configured below (a method whose provider is not configured is not offered).
PAYMENT_PROVIDER = env_choice("GUAHAO_PAYMENT_PROVIDER", "sandbox", ("sandbox", "live"))


def _demo_simulators() -> dict[str, str]:
    """The simulators' addresses that a running ``guahao demo`` wrote into this data directory:
    a command run against the demo's data finds its simulators, never another instance's on a
    fixed port."""
    try:
        found = json.loads((DATA_DIR / SIMULATORS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {k: str(v) for k, v in found.items()} if isinstance(found, dict) else {}


SIMULATORS_FILE = "simulators.json"
_SIMULATORS = _demo_simulators()
# Empty (no payment sandbox, no HIS address) unless set or written by a running demo.
PAYSIM_URL = env_str("GUAHAO_PAYSIM_URL", _SIMULATORS.get("GUAHAO_PAYSIM_URL", "")).rstrip("/")
PAYSIM_MCH_ID = env_str("GUAHAO_PAYSIM_MCH_ID", "1900000001")
PAYSIM_KEY = env_str("GUAHAO_PAYSIM_KEY", "paysim-demo-key")
WECHATPAY = {
    "mch_id": env_str("GUAHAO_WECHATPAY_MCH_ID", ""),
    "app_id": env_str("GUAHAO_WECHATPAY_APP_ID", ""),
    "private_key": env_str("GUAHAO_WECHATPAY_PRIVATE_KEY", ""),
    "cert_serial_no": env_str("GUAHAO_WECHATPAY_CERT_SERIAL_NO", ""),
    "apiv3_key": env_str("GUAHAO_WECHATPAY_APIV3_KEY", ""),
    "public_key": env_str("GUAHAO_WECHATPAY_PUBLIC_KEY", ""),
    "public_key_id": env_str("GUAHAO_WECHATPAY_PUBLIC_KEY_ID", ""),
}
ALIPAY = {
    "app_id": env_str("GUAHAO_ALIPAY_APP_ID", ""),
    "app_private_key": env_str("GUAHAO_ALIPAY_APP_PRIVATE_KEY", ""),
    "alipay_public_key": env_str("GUAHAO_ALIPAY_PUBLIC_KEY", ""),
    "sandbox": env_bool("GUAHAO_ALIPAY_SANDBOX", False),
}
# The HIS: where the REST adapter reaches it (a hospital's connection may name its own address),
# the key both sides sign with, how long to wait for an answer, and how long availability read
# from a realtime HIS is reused.
HIS_URL = env_str("GUAHAO_HIS_URL", _SIMULATORS.get("GUAHAO_HIS_URL", "")).rstrip("/")
HIS_KEY = env_str("GUAHAO_HIS_KEY", "hissim-demo-key")
HIS_TIMEOUT_MS = env_int("GUAHAO_HIS_TIMEOUT_MS", 3000, low=100, high=60000)
HIS_AVAILABILITY_SECONDS = env_int("GUAHAO_HIS_AVAILABILITY_SECONDS", 10, low=0, high=600)

# --- messages to patients ---------------------------------------------------------------------

# SMS (login codes and messages): "console" prints them (the demo, tests: and the API returns
# the login code as dev_code); "aliyun" sends through Aliyun's SMS service with the hospitals'
# signatures and templates (console → hospital message channels) and the login template below.
SMS_BACKEND = env_choice("GUAHAO_SMS_BACKEND", "console", ("console", "aliyun"))
ALIYUN_SMS = {
    "access_key_id": env_str("GUAHAO_ALIYUN_SMS_ACCESS_KEY_ID", ""),
    "access_key_secret": env_str("GUAHAO_ALIYUN_SMS_ACCESS_KEY_SECRET", ""),
    "endpoint": env_str("GUAHAO_ALIYUN_SMS_ENDPOINT", "dysmsapi.aliyuncs.com"),
    "sign_name": env_str("GUAHAO_ALIYUN_SMS_SIGN_NAME", ""),
    "login_template": env_str("GUAHAO_ALIYUN_SMS_LOGIN_TEMPLATE", ""),
}
if SMS_BACKEND == "aliyun":
    for _name, _key in [
        ("GUAHAO_ALIYUN_SMS_ACCESS_KEY_ID", "access_key_id"),
        ("GUAHAO_ALIYUN_SMS_ACCESS_KEY_SECRET", "access_key_secret"),
        ("GUAHAO_ALIYUN_SMS_SIGN_NAME", "sign_name"),
        ("GUAHAO_ALIYUN_SMS_LOGIN_TEMPLATE", "login_template"),
    ]:
        if not ALIYUN_SMS[_key]:
            raise ImproperlyConfigured(f"{_name} must be set when GUAHAO_SMS_BACKEND=aliyun")


def env_hours(name: str, default: str) -> tuple[dt.time, dt.time] | None:
    """A daily window "HH:MM-HH:MM" (it may span midnight), or None for "off"."""
    raw = env_str(name, default).strip()
    if raw.lower() == "off":
        return None
    try:
        start, end = (dt.time.fromisoformat(part.strip()) for part in raw.split("-"))
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} must be HH:MM-HH:MM or off") from None
    if start == end:
        raise ImproperlyConfigured(f"{name}={raw!r} is an empty window")
    return start, end


def env_time(name: str, default: str) -> dt.time | None:
    raw = env_str(name, default).strip()
    if raw.lower() == "off":
        return None
    try:
        return dt.time.fromisoformat(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} must be HH:MM or off") from None


# No SMS in these hours of the hospital's day, but urgent ones (a suspension, a cancellation by
# the hospital, a waitlist offer): the others wait for the end of the window.
SMS_QUIET_HOURS = env_hours("GUAHAO_SMS_QUIET_HOURS", "22:00-07:00")
# Messages one phone is sent by SMS a day (login codes apart); urgent ones are always sent.
SMS_DAILY_LIMIT = env_int("GUAHAO_SMS_DAILY_LIMIT", 10, low=1, high=1000)
# Reminders: the day before the visit at this time of the hospital's day (a hospital may set its
# own), and this many hours before it (0: none).
REMINDER_DAY_BEFORE_AT = env_time("GUAHAO_REMINDER_DAY_BEFORE_AT", "18:00")
REMINDER_HOURS_BEFORE = env_int("GUAHAO_REMINDER_HOURS_BEFORE", 2, low=0, high=72)
# WeChat's API (each hospital's official account and templates are set in the console).
WECHAT_API_URL = env_str("GUAHAO_WECHAT_API_URL", "https://api.weixin.qq.com").rstrip("/")
# E-mail: "console" prints it (the demo), "smtp" sends through the server below, "off" sends none.
EMAIL_CHANNEL = env_choice("GUAHAO_EMAIL_BACKEND", "console", ("console", "smtp", "off"))
EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_CHANNEL == "smtp"
    else "django.core.mail.backends.console.EmailBackend"
)
EMAIL_HOST = env_str("GUAHAO_EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("GUAHAO_EMAIL_PORT", 25, low=1, high=65535)
EMAIL_HOST_USER = env_str("GUAHAO_EMAIL_USER", "")
EMAIL_HOST_PASSWORD = env_str("GUAHAO_EMAIL_PASSWORD", "")
_email_security = env_choice("GUAHAO_EMAIL_SECURITY", "none", ("none", "starttls", "ssl"))
EMAIL_USE_TLS = _email_security == "starttls"
EMAIL_USE_SSL = _email_security == "ssl"
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = env_str("GUAHAO_EMAIL_FROM", "noreply@guahao.invalid")

# --- i18n, time -------------------------------------------------------------------------------

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = "Asia/Shanghai"
USE_TZ = True

# --- static and console -----------------------------------------------------------------------

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
WHITENOISE_USE_FINDERS = True
LOGIN_URL = "/console/login/"
LOGIN_REDIRECT_URL = "/console/"

# --- staff access -----------------------------------------------------------------------------

# Permissions come from the staff member's role; django-axes refuses a locked-out login first.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "guahao.accounts.backends.RoleBackend"]
# A staff password set in the console: at least 10 characters, not all digits, not a common one,
# not like the staff member's name or e-mail.
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# "required": every staff member logs in with a TOTP code (and enrols at the first login);
# "optional" (the demo): only those who enrolled are asked for one.
STAFF_OTP = env_choice("GUAHAO_STAFF_OTP", "required", ("required", "optional"))
OTP_TOTP_ISSUER = "Guahao"
# A staff session ends after this long without a request.
STAFF_IDLE_MINUTES = env_int("GUAHAO_STAFF_IDLE_MINUTES", 30, low=1, high=24 * 60)
# Lockout after repeated wrong passwords, per user name and per address; 0 minutes: until a
# platform admin lifts it.
AXES_FAILURE_LIMIT = env_int("GUAHAO_STAFF_LOCKOUT_FAILURES", 5, low=1, high=100)
# An address is locked only after many more: a hospital's staff share one behind its NAT, and one
# user's typos must not lock out the colleagues (or the admin who would lift the lock).
STAFF_LOCKOUT_ADDRESS_FAILURES = env_int("GUAHAO_STAFF_LOCKOUT_ADDRESS_FAILURES", 50, low=1, high=10000)
AXES_HANDLER = "guahao.accounts.lockouts.StaffLockouts"
_lockout_minutes = env_int("GUAHAO_STAFF_LOCKOUT_MINUTES", 30, low=0, high=7 * 24 * 60)
AXES_COOLOFF_TIME = dt.timedelta(minutes=_lockout_minutes) if _lockout_minutes else None
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_ENABLE_ADMIN = False  # the console has its own page of lockouts
AXES_LOCKOUT_CALLABLE = "guahao.console.otp.locked_out"
AXES_VERBOSE = False
AXES_CLIENT_IP_CALLABLE = "guahao.core.addresses.client_ip"  # the same address as the patients' limits

UNFOLD = {
    "SITE_TITLE": _("Guahao console"),
    "SITE_HEADER": _("Guahao"),
    "SITE_SYMBOL": "local_hospital",
    "SHOW_LANGUAGES": True,
}

# The largest request body the API reads (a HIS pushing a week of schedules stays well below).
API_MAX_BODY_BYTES = env_int("GUAHAO_API_MAX_BODY_BYTES", 1024 * 1024, low=1024, high=100 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = max(API_MAX_BODY_BYTES, 2_621_440)

# Who may read /metrics besides the loopback address: a bearer token (empty: loopback only).
METRICS_TOKEN = env_str("GUAHAO_METRICS_TOKEN", "")

# "json" (one object a line, with the request id) for log collectors; "plain" for a terminal.
LOG_FORMAT = env_choice("GUAHAO_LOG_FORMAT", "json", ("json", "plain"))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "guahao.core.logs.RequestIdFilter"},
        "refusals": {"()": "guahao.core.logs.RefusalsFilter"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "guahao.core.logs.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["request_id"]}},
    "root": {"handlers": ["console"], "level": env_str("GUAHAO_LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # A refusal by a rule (409: sold out, a limit; 429) is an answer, not a warning: counted by
        # its code in /metrics, never a log line each (a release's crowd would write thousands).
        "django.request": {"filters": ["refusals"]},
        # The job consumer installs a handler of its own.
        "huey": {"handlers": [], "propagate": False},
    },
}
