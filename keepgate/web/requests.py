"""Facts about the request: the client's IP (trusting only configured proxies) and context."""

from __future__ import annotations

import ipaddress

from fastapi import Request

from keepgate.services.context import RequestContext
from keepgate.web.deps import keepgate_of


def client_ip(request: Request) -> str:
    peer = request.client.host if request.client else ""
    trusted = keepgate_of(request).settings.trusted_proxies
    if not trusted or not _in(peer, trusted):
        return peer
    # Walk X-Forwarded-For from the right: the first hop we do not trust is the client.
    hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if not _in(hop, trusted):
            return hop
    return hops[0] if hops else peer


def _in(address: str, networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
        ) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def request_context(request: Request, binding: str | None = None) -> RequestContext:
    return RequestContext(ip=client_ip(request)[:64],
                          user_agent=request.headers.get("user-agent", "")[:512],
                          binding=binding)
