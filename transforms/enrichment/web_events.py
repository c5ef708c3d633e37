"""What a web event's user agent and IP address say about the visitor: device, browser, OS, country.

Both lookups run offline (ua-parser's bundled regexes, geoip2fast's bundled country table), so
enrichment needs no network and gives the same answer on every run with the same library
versions. A site sees a few hundred distinct user agents and IPs per million events, so each
distinct value is looked up once.
"""

from __future__ import annotations

import ipaddress
import re
from functools import cache, lru_cache
from typing import NamedTuple

import pyarrow as pa
import ua_parser

from transforms.enrichment.arrow_distinct import map_distinct

DEVICE_TYPES = ("desktop", "mobile", "tablet", "bot")

_BOT = re.compile(r"bot|crawl|spider|slurp|curl|wget|python-requests|httpclient|headless|monitor", re.IGNORECASE)
_MOBILE_OS = {"iOS", "Android", "Windows Phone", "BlackBerry OS", "KaiOS", "Firefox OS"}


class UserAgent(NamedTuple):
    device_type: str | None
    browser_family: str | None
    os_family: str | None


@lru_cache(maxsize=100_000)
def parse_user_agent(user_agent: str | None) -> UserAgent:
    """Device type (one of DEVICE_TYPES), browser family and OS family; None where unknown."""
    if not user_agent or not user_agent.strip():
        return UserAgent(None, None, None)
    parsed = ua_parser.parse(user_agent)
    browser = parsed.user_agent.family if parsed.user_agent else None
    os_family = parsed.os.family if parsed.os else None
    device = parsed.device
    if (device and device.family == "Spider") or _BOT.search(user_agent):
        kind = "bot"
    elif (device and (device.family == "iPad" or "Tablet" in (device.brand or ""))) or "Tablet" in user_agent:
        kind = "tablet"
    elif os_family == "Android" and "Mobile" not in user_agent:
        kind = "tablet"  # Android tablets leave "Mobile" out of the user agent
    elif os_family in _MOBILE_OS or "Mobile" in user_agent:
        kind = "mobile"
    else:
        kind = "desktop"
    return UserAgent(kind, _known(browser), _known(os_family))


@lru_cache(maxsize=200_000)
def ip_country(ip: str | None) -> str | None:
    """ISO 3166-1 alpha-2 country of a public IP address; None for private, reserved or malformed ones."""
    if not ip:
        return None
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return None
    if not address.is_global:
        return None
    code = _geoip().lookup(str(address)).country_code
    return code if code and len(code) == 2 and code.isalpha() else None


def device_type_array(user_agents: pa.Array | pa.ChunkedArray) -> pa.Array:
    return map_distinct(user_agents, lambda ua: parse_user_agent(ua).device_type)


def browser_family_array(user_agents: pa.Array | pa.ChunkedArray) -> pa.Array:
    return map_distinct(user_agents, lambda ua: parse_user_agent(ua).browser_family)


def os_family_array(user_agents: pa.Array | pa.ChunkedArray) -> pa.Array:
    return map_distinct(user_agents, lambda ua: parse_user_agent(ua).os_family)


def ip_country_array(ips: pa.Array | pa.ChunkedArray) -> pa.Array:
    return map_distinct(ips, ip_country)


@cache
def _geoip():
    """The country table, loaded on first use (about 50 ms), then shared."""
    from geoip2fast import GeoIP2Fast

    return GeoIP2Fast(verbose=False)


def _known(family: str | None) -> str | None:
    return None if family in (None, "", "Other") else family
