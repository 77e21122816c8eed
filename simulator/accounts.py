"""The Zoho Accounts endpoints: POST /oauth/v2/token and /oauth/v2/token/revoke."""

from __future__ import annotations

from aiohttp import web

from simulator.respond import plain_json
from simulator.state import STATE


def base_url(request: web.Request) -> str:
    """Return the URL clients reach this simulator on (the api_domain it hands out)."""
    configured = request.app[STATE].config.public_url
    return configured.rstrip("/") if configured else str(request.url.origin())


async def _params(request: web.Request) -> dict[str, str]:
    # Zoho's examples send query parameters; many clients post a form body instead.
    params = dict(request.query)
    if request.content_type == "application/x-www-form-urlencoded":
        form = await request.post()
        params.update({k: v for k, v in form.items() if isinstance(v, str)})
    return params


async def token(request: web.Request) -> web.StreamResponse:
    """Issue an access token (refresh_token grant) or exchange a code (authorization_code)."""
    state = request.app[STATE]
    state.tokens.force_block = state.faults.config.force_token_block
    reply = state.tokens.grant(await _params(request), base_url(request))
    return plain_json(reply.body, reply.status)


async def revoke(request: web.Request) -> web.StreamResponse:
    """Revoke a refresh token (and its access tokens) or one access token."""
    params = await _params(request)
    request.app[STATE].tokens.revoke(params.get("token", ""))
    return plain_json({"status": "success"})


def add_routes(app: web.Application) -> None:
    """Register the OAuth routes."""
    app.router.add_post("/oauth/v2/token", token)
    app.router.add_post("/oauth/v2/token/revoke", revoke)
