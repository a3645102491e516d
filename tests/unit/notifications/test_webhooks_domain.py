"""Standard Webhooks signatures, the retry schedule and the SSRF rules (pure functions)."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.notifications.domain import addresses, retries, webhooks

VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TS = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_signature_reproduces_the_published_standard_webhooks_vector():
    assert webhooks.sign(VECTOR_SECRET, VECTOR_ID, VECTOR_TS, VECTOR_BODY) == VECTOR_SIGNATURE


def test_rotation_sends_both_signatures_and_either_secret_verifies():
    new = webhooks.format_secret(bytes(range(32)))
    headers = webhooks.webhook_headers([new, VECTOR_SECRET], VECTOR_ID, VECTOR_TS, VECTOR_BODY)
    assert headers["webhook-signature"].split(" ")[1] == VECTOR_SIGNATURE
    assert headers["webhook-id"] == VECTOR_ID and headers["webhook-timestamp"] == str(VECTOR_TS)
    for secret in (new, VECTOR_SECRET):
        assert webhooks.verify(secret, headers, VECTOR_BODY, now=VECTOR_TS)
    assert not webhooks.verify(webhooks.format_secret(b"x" * 32), headers, VECTOR_BODY, now=VECTOR_TS)


def test_a_changed_body_or_a_stale_timestamp_does_not_verify():
    headers = webhooks.webhook_headers([VECTOR_SECRET], VECTOR_ID, VECTOR_TS, VECTOR_BODY)
    assert not webhooks.verify(VECTOR_SECRET, headers, VECTOR_BODY + b" ", now=VECTOR_TS)
    assert not webhooks.verify(VECTOR_SECRET, headers, VECTOR_BODY, now=VECTOR_TS + 301)


def test_secrets_are_whsec_and_base64_of_32_bytes():
    secret = webhooks.format_secret(b"\x01" * 32)
    assert secret.startswith("whsec_") and len(webhooks.secret_key(secret)) == 32
    with pytest.raises(webhooks.InvalidSecret):
        webhooks.secret_key("whsec_not base64!")
    with pytest.raises(webhooks.InvalidSecret):
        webhooks.format_secret(b"short")


# -- retries --------------------------------------------------------------------------------------


def test_the_schedule_is_the_documented_one_and_spans_about_three_days():
    minutes = [d.total_seconds() / 60 for d in retries.SCHEDULE]
    assert minutes == [0, 5 / 60, 5, 30, 120, 300, 600, 840, 1200, 1440]
    total = sum(retries.SCHEDULE, timedelta())
    assert timedelta(days=3) <= total < timedelta(days=3, hours=8)


@given(st.integers(min_value=1, max_value=9), st.floats(min_value=0, max_value=0.999999))
def test_jitter_stays_within_ten_percent(attempts, jitter):
    delay = retries.retry_delay(attempts, jitter=jitter)
    assert delay is not None
    base = retries.SCHEDULE[attempts]
    assert base * 0.9 <= delay <= base * 1.1


def test_no_attempt_after_the_tenth():
    assert retries.retry_delay(10, jitter=0.5) is None
    assert retries.after_attempt("retry", 10, jitter=0.5) == retries.Next("failed")


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        (200, "delivered"),
        (204, "delivered"),
        (299, "delivered"),
        (301, "retry"),
        (302, "retry"),
        (400, "retry"),
        (404, "retry"),
        (410, "gone"),
        (429, "retry"),
        (500, "retry"),
        (503, "retry"),
    ],
)
def test_http_verdicts(status, verdict):
    assert retries.http_verdict(status) == verdict


def test_gone_disables_the_subscription():
    assert retries.after_attempt("gone", 1, jitter=0).disable_subscription


def test_retry_after_is_honoured_only_when_longer_and_only_for_its_statuses():
    hour = timedelta(hours=1)
    assert retries.after_attempt("retry", 1, jitter=0.5, status_code=429, retry_after=hour).delay == hour
    assert retries.after_attempt("retry", 1, jitter=0.5, status_code=500, retry_after=hour).delay == timedelta(
        seconds=5
    )
    assert retries.after_attempt("retry", 5, jitter=0.5, status_code=503, retry_after=hour).delay == timedelta(hours=5)


def test_retry_after_parses_seconds_and_http_dates_and_is_capped():
    now = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    assert retries.parse_retry_after("120", now=now) == timedelta(seconds=120)
    assert retries.parse_retry_after("Mon, 02 Mar 2026 02:00:00 GMT", now=now) == timedelta(hours=1)
    assert retries.parse_retry_after("Mon, 02 Mar 2026 00:00:00 GMT", now=now) == timedelta(0)
    assert retries.parse_retry_after("999999999", now=now) == timedelta(hours=24)
    assert retries.parse_retry_after("soon", now=now) is None
    assert retries.parse_retry_after(None, now=now) is None


# -- SSRF -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link_local"),
        ("fe80::1", "link_local"),
        ("fc00::1", "unique_local"),
        ("fd12:3456::1", "unique_local"),
        ("::ffff:127.0.0.1", "ipv4_mapped"),
        ("::ffff:8.8.8.8", "ipv4_mapped"),
        ("224.0.0.1", "multicast"),
        ("239.1.1.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("100.64.0.1", "reserved"),
        ("192.0.2.1", "reserved"),
        ("240.0.0.1", "reserved"),
        ("8.8.8.8", None),
        ("114.114.114.114", None),
        ("2400:3200::1", None),
    ],
)
def test_address_classes(address, kind):
    assert addresses.address_class(ipaddress.ip_address(address)) == kind


def test_an_allowed_cidr_lets_its_addresses_through_and_nothing_else():
    allowed = addresses.parse_cidrs("127.0.0.0/8, 10.20.0.0/16")
    addresses.check_address(ipaddress.ip_address("127.0.0.1"), allowed)
    addresses.check_address(ipaddress.ip_address("10.20.3.4"), allowed)
    with pytest.raises(addresses.DestinationRefused) as refused:
        addresses.check_address(ipaddress.ip_address("10.21.0.1"), allowed)
    assert refused.value.reason == "webhook.address_private"
    with pytest.raises(addresses.DestinationRefused):
        addresses.check_address(ipaddress.ip_address("::ffff:127.0.0.1"), allowed)


def test_a_name_pointing_anywhere_inward_is_refused():
    public, private = ipaddress.ip_address("8.8.8.8"), ipaddress.ip_address("192.168.0.9")
    assert addresses.check_addresses([public], ()) == public
    with pytest.raises(addresses.DestinationRefused):
        addresses.check_addresses([public, private], ())
    with pytest.raises(addresses.DestinationRefused):
        addresses.check_addresses([], ())


def test_malformed_cidrs_are_refused():
    with pytest.raises(addresses.InvalidCidrs):
        addresses.parse_cidrs("127.0.0.0/8, nonsense")
    assert addresses.parse_cidrs("") == ()


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.org/x", "webhook.url_invalid"),
        ("https://user:pw@example.org/x", "webhook.url_invalid"),
        ("https://example.org/x#frag", "webhook.url_invalid"),
        ("https:///x", "webhook.url_invalid"),
        ("http://localhost:8080/x", "webhook.address_loopback"),
        ("http://api.localhost/x", "webhook.address_loopback"),
        ("https://exa mple.org/", "webhook.url_invalid"),
        ("https://example.org:99999/", "webhook.url_invalid"),
    ],
)
def test_url_shapes_refused(url, reason):
    with pytest.raises(addresses.DestinationRefused) as refused:
        addresses.parse_destination(url)
    assert refused.value.reason == reason


def test_destinations_keep_host_port_and_target():
    dest = addresses.parse_destination("https://Finance.Example.gov.cn/hooks/gongyi?x=1")
    assert (dest.scheme, dest.host, dest.port, dest.target) == (
        "https",
        "finance.example.gov.cn",
        443,
        "/hooks/gongyi?x=1",
    )
    assert dest.host_header == "finance.example.gov.cn" and dest.literal is None
    ipv6 = addresses.parse_destination("http://[2400:3200::1]:8080/")
    assert ipv6.host_header == "[2400:3200::1]:8080" and ipv6.literal == ipaddress.ip_address("2400:3200::1")
    idn = addresses.parse_destination("https://民政.中国/hook")
    assert idn.host.startswith("xn--")
    with pytest.raises(addresses.DestinationRefused) as refused:
        addresses.parse_destination("http://example.org/", require_https=True)
    assert refused.value.reason == "webhook.https_required"
