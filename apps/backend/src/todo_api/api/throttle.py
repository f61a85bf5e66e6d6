"""Who the client is (behind the proxies the deployment names) and the auth throttles.

Failures count per (account, client): a stranger's wrong passwords lock out only the
stranger, never the owner on another address. Across all clients an account only slows
down (a short delay before the password is checked) once it has seen more failures than
AUTH_SLOWDOWN_PER_ACCOUNT a minute, which makes a distributed guess slow without ever
refusing the owner.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from fastapi import HTTPException, Request, status
from starlette.types import Scope

from ..core.config import IPNetwork, Settings
from ..ratelimit import RateLimiter

# How long an attempt on an account under a distributed guess waits before its hash.
SLOWDOWN_SECONDS = 1.0
# IPv6 clients get a /64 each (a subscriber's usual share): keying a /128 would give one
# host 2^64 fresh buckets.
IPV6_CLIENT_PREFIX = 64


def _trusted(address: str, networks: tuple[IPNetwork, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def client_address(request: Request, trusted: tuple[IPNetwork, ...]) -> str:
    """The peer address; if the peer is one of the trusted proxies (TRUSTED_PROXIES, the
    deployment's own Ingress hop), the nearest address in X-Forwarded-For that is not one
    (read right to left: each proxy appends the address it received from, so everything
    left of the first untrusted hop could be made up)."""
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


def client_key(address: str) -> str:
    """The throttle key of a client address: IPv4 as is, IPv6 by its /64."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/{IPV6_CLIENT_PREFIX}", strict=False))
    return str(ip)


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
    auth_account_client: RateLimiter
    auth_account: RateLimiter
    assistant_user: RateLimiter
    trusted_proxies: tuple[IPNetwork, ...]

    @classmethod
    def from_settings(cls, settings: Settings) -> Throttles:
        return cls(
            auth_address=RateLimiter(settings.auth_rate_per_address, 60),
            auth_account_client=RateLimiter(settings.auth_rate_per_account, 60),
            auth_account=RateLimiter(settings.auth_slowdown_per_account, 60),
            assistant_user=RateLimiter(settings.assistant_turns_per_hour, 3600),
            trusted_proxies=settings.trusted_proxy_networks,
        )

    def client(self, scope: Scope) -> str:
        return client_key(client_address(Request(scope), self.trusted_proxies))

    def address_wait(self, scope: Scope) -> int:
        """One login or register attempt from this client address (EarlyThrottleMiddleware
        asks before the request is routed: a refused address spends no account event and
        no body parsing)."""
        return self.auth_address.take(self.client(scope))

    def account_attempt(self, account: str, request: Request) -> AccountAttempt:
        """One login or register attempt for this account from this client: 429 once this
        client has failed too often on it; otherwise how long to wait first (0 unless the
        account is under a distributed guess). Settle it with `succeeded()` on success."""
        attempt = AccountAttempt(self, account, f"{account}\x00{self.client(request.scope)}")
        wait = self.auth_account_client.take(attempt.pair)
        if wait:
            raise too_many(wait, "sign-in attempts for this account from your address")
        attempt.delay = SLOWDOWN_SECONDS if self.auth_account.take(account) else 0.0
        return attempt

    def check_assistant(self, user_id: int) -> None:
        wait = self.assistant_user.take(str(user_id))
        if wait:
            raise too_many(wait, "assistant messages")


@dataclass
class AccountAttempt:
    throttles: Throttles
    account: str
    pair: str
    delay: float = 0.0

    def succeeded(self) -> None:
        """Only failures count: give the attempt back to both limiters."""
        self.throttles.auth_account_client.refund(self.pair)
        self.throttles.auth_account.refund(self.account)
