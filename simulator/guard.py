"""The API middleware: authentication, organization, quotas, faults and stats, in that order."""

from __future__ import annotations

from aiohttp import web

from simulator.api import PREFIXES, Handler
from simulator.errors import ZohoError
from simulator.respond import LIST_PAGE, ZOHO_CODE, error
from simulator.state import STATE, SimState

AUTH_PREFIX = "Zoho-oauthtoken "


def _org_error(given: str) -> ZohoError:
    return ZohoError(
        400, 6041, f"This user is not associated with the CompanyID/CompanyName:{given}."
    )


def _authenticate(request: web.Request, state: SimState) -> None:
    header = request.headers.get("Authorization", "")
    if not header.startswith(AUTH_PREFIX):
        raise ZohoError(401, 14, "Invalid value passed for authtoken.")
    if not state.tokens.valid(header[len(AUTH_PREFIX) :].strip()):
        raise ZohoError(401, 57, "You are not authorized to perform this operation")


def _organization(request: web.Request, state: SimState) -> str:
    org = state.config.org.organization_id
    tail = request.path.split("/", 3)[3] if request.path.count("/") >= 3 else ""
    if tail.startswith("organizations"):
        return org  # the one call that needs no organization_id
    given = request.query.get("organization_id", "")
    if given != org:
        raise _org_error(given)
    return org


def _endpoint(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


async def _guarded(request: web.Request, handler: Handler, state: SimState) -> web.StreamResponse:
    _authenticate(request, state)
    org = _organization(request, state)
    state.limiter.acquire(org)
    try:
        await state.faults.before()
        try:
            response = await handler(request)
        except web.HTTPNotFound:
            raise ZohoError(404, 5, "Invalid URL Passed") from None
        except web.HTTPMethodNotAllowed:
            raise ZohoError(405, 5, "Invalid URL Passed") from None
        if request.get(LIST_PAGE) and isinstance(response, web.Response) and response.body:
            body = response.body
            assert isinstance(body, bytes)
            response.body = state.faults.corrupt(body)
        if 200 <= response.status < 300:
            response.headers.update(state.limiter.headers(org))
        return response
    finally:
        state.limiter.release(org)


@web.middleware
async def api_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Apply Zoho's checks to /books/v3 and /inventory/v1 requests; pass the rest through."""
    if not request.path.startswith(PREFIXES):
        return await handler(request)
    state = request.app[STATE]
    try:
        response = await _guarded(request, handler, state)
    except ZohoError as exc:
        if request.method != "GET":
            exc = state.faults.refusal(exc)
        response = error(request, exc)
    state.stats.request(_endpoint(request), response.status, request.get(ZOHO_CODE))
    return response
