"""The client's address, for per-address limits and the staff lockouts.

Behind ``GUAHAO_PROXY_HOPS`` proxies of ours (a load balancer, a TLS proxy), ``REMOTE_ADDR`` is
the nearest proxy's and each proxy appended the address it was reached from to
``X-Forwarded-For``: the client is the entry that many places from its end. Entries before it
are whatever the client sent, and are never believed (a client could name any address there
and escape its limits)."""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str | None:
    remote = request.META.get("REMOTE_ADDR")
    hops = settings.PROXY_HOPS
    if not hops:
        return remote
    forwarded = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if a.strip()]
    if len(forwarded) < hops:
        return remote  # not through all our proxies
    try:
        return str(ipaddress.ip_address(forwarded[-hops]))
    except ValueError:
        return remote
