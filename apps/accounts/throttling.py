"""Throttling: how often one API token, one client address, one login name or one machine may call, counted in
Django's cache (Redis in production, so every web process shares the counts; per process in development).

Rates are settings (THROTTLE_RATES, from METALYARD_THROTTLE_* variables) written `<count>/<period>`, the period a
unit (`second`, `minute`, `hour`, `day`, or s/m/h/d) with an optional multiplier: `1200/minute`, `5/15m`. A
window opens at a caller's first call and lasts one period; past the count, calls are refused (429 with
Retry-After: the seconds until the window closes).

Faces: the API (`APITokenThrottle`, `APIAddressThrottle`, DRF throttle classes, and failed token attempts in
`TokenAuthentication`), the login forms (`LoginThrottleMiddleware` and the login signals: a lockout per login
name and per address after repeated failures), and the provisioning listener (`apps.installs.provisioning`).
"""
from __future__ import annotations

import hashlib
import ipaddress
import math
import re
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from apps.accounts.models import APIToken

_UNITS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600, "d": 86400, "day": 86400}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([a-z]+?)s?\s*$")


@dataclass(frozen=True)
class Rate:
    count: int
    seconds: int

    def __str__(self) -> str:
        return f"{self.count} per {self.seconds} s"


def parse_rate(text: str) -> Rate:
    """`1200/minute`, `5/15m`, `20/hour` → Rate(count, seconds). A malformed rate is a configuration error."""
    match = _RATE.match(text.lower())
    if match is None or match.group(3) not in _UNITS:
        raise ValueError(f"'{text}' is not a rate; write <count>/<period>, e.g. 1200/minute or 5/15m.")
    return Rate(int(match.group(1)), int(match.group(2) or 1) * _UNITS[match.group(3)])


def rate(name: str) -> Rate:
    return parse_rate(settings.THROTTLE_RATES[name])


def _keys(bucket: str, ident: str) -> tuple[str, str]:
    # Hashed: idents are addresses, login names and token ids; a cache key must not carry arbitrary text.
    digest = hashlib.sha256(ident.encode()).hexdigest()[:40]
    base = f"metalyard:throttle:{bucket}:{digest}"
    return f"{base}:n", f"{base}:t"


def _wait(start_key: str, limit: Rate, now: float) -> int:
    started = cache.get(start_key)
    started = float(started) if started is not None else now
    return max(1, math.ceil(started + limit.seconds - now))


def throttle_hit(bucket: str, ident: str, limit: Rate) -> int | None:
    """Count one call of `ident` in `bucket`; None when it is within the rate, else the seconds to wait."""
    count_key, start_key = _keys(bucket, ident)
    now = time.time()
    cache.add(start_key, now, timeout=limit.seconds)
    cache.add(count_key, 0, timeout=limit.seconds)
    try:
        count = cache.incr(count_key)
    except ValueError:  # the window closed between add and incr: this call opens the next
        cache.add(start_key, now, timeout=limit.seconds)
        cache.add(count_key, 1, timeout=limit.seconds)
        count = 1
    return _wait(start_key, limit, now) if count > limit.count else None


def throttle_peek(bucket: str, ident: str, limit: Rate) -> int | None:
    """Without counting: the seconds to wait when `ident` has already used its `limit.count` calls, else None."""
    count_key, start_key = _keys(bucket, ident)
    count = cache.get(count_key) or 0
    return _wait(start_key, limit, time.time()) if int(count) >= limit.count else None


def throttle_reset(bucket: str, ident: str) -> None:
    cache.delete_many(list(_keys(bucket, ident)))


def client_address(request: HttpRequest) -> str:
    """The caller's address on the public site: REMOTE_ADDR, or behind a load balancer in TRUSTED_PROXIES the
    right-most X-Forwarded-For address that is not a trusted proxy itself."""
    remote = (request.META.get("REMOTE_ADDR") or "").strip()
    proxies = [ipaddress.ip_network(item, strict=False) for item in settings.TRUSTED_PROXIES]

    def trusted(value: str) -> bool:
        try:
            return any(ipaddress.ip_address(value) in network for network in proxies)
        except ValueError:
            return False

    if not proxies or not trusted(remote):
        return remote
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    for hop in reversed(hops):
        if not trusted(hop):
            return hop
    return remote


# ---------------------------------------------------------------------------------------------- API


class _Throttle(BaseThrottle):
    bucket = ""

    def __init__(self) -> None:
        self.retry_after: int | None = None

    def ident(self, request: Request) -> str | None:
        raise NotImplementedError

    def allow_request(self, request: Request, view: Any) -> bool:
        ident = self.ident(request)
        if ident is None:
            return True
        counted = getattr(request, "throttles_counted", None)
        if counted is not None and self.bucket in counted:
            return True  # a lean view (apps/api/lean.py) counted and allowed this call before handing it to the DRF view
        self.retry_after = throttle_hit(self.bucket, ident, rate(self.bucket))
        if self.retry_after is None and counted is not None:
            counted.add(self.bucket)
        return self.retry_after is None

    def wait(self) -> float | None:
        return self.retry_after


class APITokenThrottle(_Throttle):
    """Per API token (THROTTLE_RATES["api_token"]); a session (the portal's own calls) counts per user."""

    bucket = "api_token"

    def ident(self, request: Request) -> str | None:
        auth = getattr(request, "auth", None)
        if isinstance(auth, APIToken):
            return f"token:{auth.pk}"
        user = getattr(request, "user", None)
        return f"user:{user.pk}" if user is not None and user.is_authenticated else None


class APIAddressThrottle(_Throttle):
    """Per client address, whoever calls (THROTTLE_RATES["api_address"])."""

    bucket = "api_address"

    def ident(self, request: Request) -> str | None:
        return client_address(request) or None


def api_failed_token_attempt(request: HttpRequest) -> int | None:
    """A wrong token counts against its address's API rate too (authentication fails before DRF's throttles run);
    the seconds to wait once that address is over its rate, else None."""
    address = client_address(request)
    return throttle_hit("api_address", address, rate("api_address")) if address else None


# ---------------------------------------------------------------------------------------------- login forms


def _login_name(request: HttpRequest) -> str:
    return (request.POST.get("username") or "").strip().lower()


def login_locked(request: HttpRequest) -> int | None:
    """Seconds until this login name or this address may try again, when either has failed too often; else None."""
    waits = [throttle_peek("login_address", client_address(request), rate("login_address"))]
    name = _login_name(request)
    if name:
        waits.append(throttle_peek("login_username", name, rate("login_username")))
    known = [w for w in waits if w is not None]
    return max(known) if known else None


def login_failed(sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any) -> None:
    """user_login_failed: one more failure for the login name and for the address."""
    if request is None:
        return
    throttle_hit("login_address", client_address(request), rate("login_address"))
    name = str(credentials.get("username") or "").strip().lower()
    if name:
        throttle_hit("login_username", name, rate("login_username"))


def login_succeeded(sender: Any, request: HttpRequest | None = None, user: Any = None, **kwargs: Any) -> None:
    """user_logged_in: the login name's failures are forgotten (the address's are not)."""
    if user is not None:
        throttle_reset("login_username", user.get_username().strip().lower())


class LoginThrottleMiddleware:
    """A login attempt (POST to a path in LOGIN_THROTTLE_PATHS: the portal's and the admin's login forms) from a
    locked-out login name or address is refused with 429 and Retry-After before the password is even checked."""

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method == "POST" and request.path in settings.LOGIN_THROTTLE_PATHS:
            wait = login_locked(request)
            if wait is not None:
                minutes = max(1, math.ceil(wait / 60))
                response = HttpResponse(f"Too many failed sign-ins for this account or from this address. Try again in {minutes} "
                                        "minute(s).", status=429, content_type="text/plain; charset=utf-8")
                response["Retry-After"] = str(wait)
                return response
        return self.get_response(request)


# ---------------------------------------------------------------------------------------------- check --deploy


def check_shared_throttle_counts(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """`manage.py check --deploy`: counts kept per process (Django's local-memory cache) let each web process grant
    the whole rate again — N gunicorn workers, N times the limits — and `throttle_reset` reach none of them."""
    from django.core import checks

    backend = settings.CACHES.get("default", {}).get("BACKEND", "")
    if backend.endswith(("locmem.LocMemCache", "dummy.DummyCache")):
        return [checks.Warning("Throttle counts and login lockouts are kept per process (local-memory cache).",
                               hint="Set METALYARD_CACHE_URL (or REDIS_URL) to a Redis that every web process shares.",
                               id="metalyard.W001")]
    return []
