"""Who the client is (behind trusted proxies) and the 429 answers of the rate limits."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from fastapi import HTTPException, Request, status
from starlette.types import Scope

from ..core.config import IPNetwork, Settings
from ..ratelimit import RateLimiter


def _trusted(address: str, networks: tuple[IPNetwork, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def client_address(request: Request, trusted: tuple[IPNetwork, ...]) -> str:
    """The peer address; if the peer is a trusted proxy, the nearest address in
    X-Forwarded-For that is not one (read right to left: each proxy appends the address it
    received from, so everything left of the first untrusted hop could be made up)."""
    peer = request.client.host if request.client else ""
    if not _trusted(peer, trusted):
        return peer
    hops = [
        hop.strip()
        for header in request.headers.getlist("x-forwarded-for")
        for hop in header.split(",")
        if hop.strip()
    ]
    for hop in reversed(hops):
        if not _trusted(hop, trusted):
            return hop
    return hops[0] if hops else peer


def too_many(retry_after: int, what: str) -> HTTPException:
    return HTTPException(
        status.HTTP_429_TOO_MANY_REQUESTS,
        f"Too many {what}. Try again in {retry_after} s.",
        headers={"Retry-After": str(retry_after)},
    )


@dataclass
class Throttles:
    """The app's limiters (app.state.throttles), built once per process from settings."""

    auth_address: RateLimiter
    auth_account: RateLimiter
    assistant_user: RateLimiter
    trusted_proxies: tuple[IPNetwork, ...]

    @classmethod
    def from_settings(cls, settings: Settings) -> Throttles:
        return cls(
            auth_address=RateLimiter(settings.auth_rate_per_address, 60),
            auth_account=RateLimiter(settings.auth_rate_per_account, 60),
            assistant_user=RateLimiter(settings.assistant_turns_per_hour, 3600),
            trusted_proxies=settings.trusted_proxy_networks,
        )

    def address_wait(self, scope: Scope) -> int:
        """One login or register attempt from this client address (EarlyThrottleMiddleware
        asks before the request is routed: a refused address spends no account event and
        no body parsing)."""
        return self.auth_address.take(client_address(Request(scope), self.trusted_proxies))

    def check_account(self, account: str) -> None:
        """One login or register attempt for this account, or 429."""
        wait = self.auth_account.take(account)
        if wait:
            raise too_many(wait, "sign-in attempts for this account")

    def check_assistant(self, user_id: int) -> None:
        wait = self.assistant_user.take(str(user_id))
        if wait:
            raise too_many(wait, "assistant messages")
