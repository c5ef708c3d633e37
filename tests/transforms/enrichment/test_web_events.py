"""User agents and IP addresses say what device, browser, OS and country a visit came from, offline."""

from __future__ import annotations

import pyarrow as pa
import pytest

from transforms.enrichment.web_events import (
    DEVICE_TYPES,
    browser_family_array,
    device_type_array,
    ip_country,
    ip_country_array,
    os_family_array,
    parse_user_agent,
)

pytestmark = pytest.mark.unit

WINDOWS_CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)
MAC_SAFARI = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Safari/605.1.15"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Mobile/15E148 Safari/604.1"
)
ANDROID_PHONE = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.6778.81 Mobile Safari/537.36"
)
IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Mobile/15E148 Safari/604.1"
)
ANDROID_TABLET = (
    "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


@pytest.mark.parametrize(
    ("user_agent", "device", "browser", "os"),
    [
        (WINDOWS_CHROME, "desktop", "Chrome", "Windows"),
        (MAC_SAFARI, "desktop", "Safari", "Mac OS X"),
        (IPHONE, "mobile", "Mobile Safari", "iOS"),
        (ANDROID_PHONE, "mobile", "Chrome Mobile", "Android"),
        (IPAD, "tablet", "Mobile Safari", "iOS"),
        (ANDROID_TABLET, "tablet", "Chrome", "Android"),
        (GOOGLEBOT, "bot", "Googlebot", None),
        ("curl/8.4.0", "bot", "curl", None),
    ],
)
def test_user_agents_are_read(user_agent, device, browser, os):
    parsed = parse_user_agent(user_agent)
    assert (parsed.device_type, parsed.browser_family, parsed.os_family) == (device, browser, os)
    assert parsed.device_type in DEVICE_TYPES


@pytest.mark.parametrize("user_agent", [None, "", "   "])
def test_no_user_agent_says_nothing(user_agent):
    assert parse_user_agent(user_agent) == (None, None, None)


@pytest.mark.parametrize(
    ("ip", "country"),
    [
        ("8.8.8.8", "US"),
        ("81.2.69.160", "GB"),
        (" 8.8.8.8 ", "US"),
        ("10.1.2.3", None),
        ("192.168.0.1", None),
        ("127.0.0.1", None),
        ("not an ip", None),
        ("", None),
        (None, None),
    ],
)
def test_ip_countries_come_from_the_bundled_table(ip, country):
    assert ip_country(ip) == country


def test_arrow_columns_keep_row_order_and_nulls():
    agents = pa.chunked_array([[IPHONE, None], [WINDOWS_CHROME, IPHONE]])
    assert device_type_array(agents).to_pylist() == ["mobile", None, "desktop", "mobile"]
    assert browser_family_array(agents).to_pylist() == ["Mobile Safari", None, "Chrome", "Mobile Safari"]
    assert os_family_array(agents).to_pylist() == ["iOS", None, "Windows", "iOS"]
    assert ip_country_array(pa.array(["8.8.8.8", None, "10.0.0.1"])).to_pylist() == ["US", None, None]
