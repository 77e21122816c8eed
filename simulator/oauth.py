"""Zoho Accounts: refresh and code grants, token limits and the throttle block."""

from __future__ import annotations

import hashlib
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

from simulator.clock import SimClock
from simulator.config import OAuthConfig
from simulator.stats import Stats

THROTTLE_BODY = {
    "error_description": (
        "You have made too many requests continuously. Please try again after some time."
    ),
    "error": "Access Denied",
    "status": "failure",
}


@dataclass(frozen=True)
class OAuthReply:
    """What the token endpoint answers: HTTP status and JSON body."""

    status: int
    body: dict[str, Any]


@dataclass
class _Grant:
    """One refresh token's state: its live access tokens and its request history."""

    active: OrderedDict[str, float] = field(default_factory=OrderedDict)  # token -> expiry
    requests: deque[float] = field(default_factory=deque)
    blocked_until: float = 0.0


class TokenService:
    """Issues and checks access tokens the way Zoho Accounts does."""

    def __init__(self, *, config: OAuthConfig, clock: SimClock, stats: Stats, seed: int) -> None:
        self.config = config
        self._clock = clock
        self._stats = stats
        self._seed = seed
        self._counter = 0
        self._grants: dict[str, _Grant] = {}
        self._tokens: dict[str, tuple[str, float]] = {}  # access token -> (refresh, expiry)
        self._used_codes: set[str] = set()
        self.force_block = False
        self.reset()

    def reset(self) -> None:
        """Forget every access token, throttle window and block; keep issued refresh tokens."""
        refresh_tokens = set(self._grants) | {self.config.refresh_token}
        self._grants = {rt: _Grant() for rt in refresh_tokens}
        self._tokens.clear()

    def _mint(self, kind: str) -> str:
        self._counter += 1
        raw = hashlib.sha256(f"{self._seed}:{kind}:{self._counter}".encode()).hexdigest()
        return f"1000.{raw[:32]}.{raw[32:]}"

    def _error(self, error: str) -> OAuthReply:
        self._stats.oauth_errors[error] += 1
        return OAuthReply(200, {"error": error})  # Zoho answers most token errors with HTTP 200

    def grant(self, params: dict[str, str], api_domain: str) -> OAuthReply:
        """Handle POST /oauth/v2/token for any grant type."""
        if (
            params.get("client_id") != self.config.client_id
            or params.get("client_secret") != self.config.client_secret
        ):
            return self._error("invalid_client")
        grant_type = params.get("grant_type", "")
        if grant_type == "refresh_token":
            return self._refresh(params.get("refresh_token", ""), api_domain)
        if grant_type == "authorization_code":
            return self._exchange(params.get("code", ""), api_domain)
        return self._error("unsupported_grant_type")

    def _throttled(self, grant: _Grant) -> bool:
        now = self._clock.now()
        if self.force_block or now < grant.blocked_until:
            if self.config.block_extends and not self.force_block:
                grant.blocked_until = now + self.config.block_s
            return True
        while grant.requests and grant.requests[0] <= now - self.config.throttle_window_s:
            grant.requests.popleft()
        if len(grant.requests) >= self.config.throttle_requests:
            grant.blocked_until = now + self.config.block_s
            grant.requests.clear()
            return True
        grant.requests.append(now)
        return False

    def _refresh(self, refresh_token: str, api_domain: str) -> OAuthReply:
        grant = self._grants.get(refresh_token)
        if grant is None:
            return self._error("invalid_code")
        if self._throttled(grant):
            self._stats.oauth["throttled"] += 1
            return OAuthReply(400, dict(THROTTLE_BODY))
        return OAuthReply(200, self._issue(refresh_token, grant, api_domain))

    def _exchange(self, code: str, api_domain: str) -> OAuthReply:
        if not code or code in self._used_codes:
            return self._error("invalid_code")
        self._used_codes.add(code)
        refresh_token = self._mint("refresh")
        grant = self._grants[refresh_token] = _Grant()
        grant.requests.append(self._clock.now())
        body = self._issue(refresh_token, grant, api_domain)
        body["refresh_token"] = refresh_token
        return OAuthReply(200, body)

    def _issue(self, refresh_token: str, grant: _Grant, api_domain: str) -> dict[str, Any]:
        token = self._mint("access")
        expiry = self._clock.now() + self.config.token_ttl_s
        grant.active[token] = expiry
        self._tokens[token] = (refresh_token, expiry)
        while len(grant.active) > self.config.max_active_tokens:
            oldest, _ = grant.active.popitem(last=False)  # the 11th token invalidates the oldest
            self._tokens.pop(oldest, None)
            self._stats.oauth["invalidated"] += 1
        self._stats.oauth["tokens_issued"] += 1
        return {
            "access_token": token,
            "scope": self.config.scope,
            "api_domain": api_domain,
            "token_type": "Bearer",
            "expires_in": self.config.token_ttl_s,
        }

    def revoke(self, token: str) -> None:
        """Revoke a refresh token (and its access tokens) or a single access token."""
        grant = self._grants.pop(token, None)
        if grant is not None:
            for access in grant.active:
                self._tokens.pop(access, None)
            return
        entry = self._tokens.pop(token, None)
        if entry is not None and entry[0] in self._grants:
            self._grants[entry[0]].active.pop(token, None)

    def valid(self, token: str) -> bool:
        """Return True when the access token is live (issued, not expired, not displaced)."""
        entry = self._tokens.get(token)
        return entry is not None and self._clock.now() < entry[1]

    def snapshot(self) -> dict[str, Any]:
        """Return the token state for the control API."""
        now = self._clock.now()
        return {
            "refresh_tokens": len(self._grants),
            "active_access_tokens": sum(1 for _, exp in self._tokens.values() if exp > now),
            "blocked": [
                {"refresh_token_suffix": rt[-6:], "seconds_left": round(g.blocked_until - now, 1)}
                for rt, g in self._grants.items()
                if g.blocked_until > now
            ],
            "force_block": self.force_block,
        }
