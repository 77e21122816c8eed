"""Zoho data centres: the accounts (token) host and API host of each, and the override.

An organization lives in one data centre; tokens from one do not work in another. The
token response's `api_domain` is authoritative for API calls, so `Endpoints.api_base` is
only the starting guess until the first refresh.
"""

from __future__ import annotations

from dataclasses import dataclass

from producers.zoho.errors import ZohoConfigError


@dataclass(frozen=True, slots=True)
class DataCentre:
    """One Zoho data centre: its accounts server and API domain."""

    code: str
    accounts_url: str
    api_domain: str


# ZOHO_API_FACTS §1.1. Canada's accounts host is accounts.zohocloud.ca (accounts.zoho.ca
# does not resolve); CN and SA are not in Zoho's table but work.
DATA_CENTRES: dict[str, DataCentre] = {
    dc.code: dc
    for dc in (
        DataCentre("com", "https://accounts.zoho.com", "https://www.zohoapis.com"),
        DataCentre("eu", "https://accounts.zoho.eu", "https://www.zohoapis.eu"),
        DataCentre("in", "https://accounts.zoho.in", "https://www.zohoapis.in"),
        DataCentre("com.au", "https://accounts.zoho.com.au", "https://www.zohoapis.com.au"),
        DataCentre("jp", "https://accounts.zoho.jp", "https://www.zohoapis.jp"),
        DataCentre("ca", "https://accounts.zohocloud.ca", "https://www.zohoapis.ca"),
        DataCentre("com.cn", "https://accounts.zoho.com.cn", "https://www.zohoapis.com.cn"),
        DataCentre("sa", "https://accounts.zoho.sa", "https://www.zohoapis.sa"),
    )
}

# Path prefixes of the two products under an API domain.
PRODUCT_PATHS = {"books": "/books/v3", "inventory": "/inventory/v1"}


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Where to ask for tokens and where to send API calls (before `api_domain` is known)."""

    accounts_url: str
    api_domain: str
    overridden: bool = False

    @property
    def token_url(self) -> str:
        """The refresh-grant endpoint."""
        return f"{self.accounts_url}/oauth/v2/token"


def resolve(dc: str, api_base: str | None = None) -> Endpoints:
    """Endpoints of data centre `dc`, or of `api_base` for both when it is set (simulator)."""
    if api_base:
        base = api_base.rstrip("/")
        return Endpoints(accounts_url=base, api_domain=base, overridden=True)
    try:
        centre = DATA_CENTRES[dc]
    except KeyError:
        raise ZohoConfigError(
            f"ZOHO_DC={dc!r} is not a Zoho data centre ({', '.join(DATA_CENTRES)})"
        ) from None
    return Endpoints(accounts_url=centre.accounts_url, api_domain=centre.api_domain)


def product_url(api_domain: str, product: str, path: str) -> str:
    """The full URL of `path` (starting with /) in `product` (books or inventory)."""
    return f"{api_domain.rstrip('/')}{PRODUCT_PATHS[product]}{path}"
