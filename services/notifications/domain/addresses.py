"""Which webhook destinations may be reached (EVENTS.md "Webhooks": SSRF).

A destination is refused when its address is loopback, private (RFC 1918), link-local
(169.254/16, fe80::/10), unique-local (fc00::/7), IPv4-mapped IPv6, multicast, unspecified, or any
other non-global range (shared 100.64/10, documentation, reserved), unless the deployment lists a
CIDR containing it. The sender resolves the host once per attempt, checks every address with these
rules and connects to the checked address, so a DNS answer cannot change between check and use.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})


class InvalidCidrs(ValueError):
    """The deployment's allow-list is not a list of CIDRs."""


class DestinationRefused(ValueError):
    """A webhook URL or address that must not be reached; `reason` is a stable code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def parse_cidrs(text: str | Sequence[str]) -> tuple[IPNetwork, ...]:
    """`"127.0.0.0/8, 10.1.0.0/16"` (commas or spaces) → networks; a bare address is a /32 or /128."""
    items = text.replace(",", " ").split() if isinstance(text, str) else list(text)
    networks: list[IPNetwork] = []
    for item in items:
        try:
            networks.append(ipaddress.ip_network(item.strip(), strict=False))
        except ValueError:
            raise InvalidCidrs(f"not a CIDR: {item!r}") from None
    return tuple(networks)


def address_class(address: IPAddress) -> str | None:
    """Why an address is not public (`loopback`, `private`, …), or None for a global address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return "ipv4_mapped"
    if address.is_unspecified:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link_local"
    if address.is_multicast:
        return "multicast"
    if isinstance(address, ipaddress.IPv6Address) and address in _ULA:
        return "unique_local"
    if isinstance(address, ipaddress.IPv4Address) and any(address in n for n in _RFC1918):
        return "private"
    if not address.is_global or address.is_reserved:
        return "reserved"
    return None


_ULA = ipaddress.IPv6Network("fc00::/7")
_RFC1918 = tuple(ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))


def check_address(address: IPAddress, allowed: Iterable[IPNetwork]) -> None:
    """Raise `DestinationRefused` unless the address is global or inside an allowed CIDR."""
    kind = address_class(address)
    if kind is None:
        return
    if any(address.version == net.version and address in net for net in allowed):
        return
    raise DestinationRefused(
        f"webhook.address_{kind}",
        f"{address} is a {kind.replace('_', '-')} address; this deployment does not allow it "
        "(GONGYI_NOTIFICATIONS_WEBHOOK_ALLOW_CIDRS)",
    )


def check_addresses(addresses: Sequence[IPAddress], allowed: Iterable[IPNetwork]) -> IPAddress:
    """Every resolved address must pass (a name that also points inward is refused); the first is used."""
    if not addresses:
        raise DestinationRefused("webhook.unresolvable", "the host has no address")
    nets = tuple(allowed)
    for address in addresses:
        check_address(address, nets)
    return addresses[0]


@dataclass(frozen=True, slots=True)
class Destination:
    scheme: str
    host: str  # a name, or an address without brackets
    port: int
    target: str  # path and query, as sent
    literal: IPAddress | None  # the host when it is an address

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if isinstance(self.literal, ipaddress.IPv6Address) else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


def parse_destination(url: str, *, require_https: bool = False) -> Destination:
    """Validate a subscription URL's shape (no I/O); addresses are checked separately."""
    if len(url) > 2000:
        raise DestinationRefused("webhook.url_invalid", "the URL is longer than 2000 characters")
    try:
        parts: SplitResult = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise DestinationRefused("webhook.url_invalid", f"not a URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise DestinationRefused("webhook.url_invalid", "the URL must start with https:// (or http://)")
    if require_https and parts.scheme != "https":
        raise DestinationRefused("webhook.https_required", "this deployment accepts only https:// endpoints")
    if parts.username is not None or parts.password is not None:
        raise DestinationRefused("webhook.url_invalid", "credentials in the URL are not accepted; use the signature")
    if parts.fragment:
        raise DestinationRefused("webhook.url_invalid", "a URL fragment is never sent; remove it")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise DestinationRefused("webhook.url_invalid", "the URL has no host")
    literal: IPAddress | None
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
        try:
            host = host.encode("idna").decode("ascii")  # 民政.中国 → xn--…
        except UnicodeError:
            raise DestinationRefused("webhook.url_invalid", f"{host!r} is not a valid host name") from None
        if host in LOCAL_NAMES or host.endswith(".localhost"):
            raise DestinationRefused("webhook.address_loopback", f"{host} names this machine") from None
        if not _valid_hostname(host):
            raise DestinationRefused("webhook.url_invalid", f"{host!r} is not a valid host name") from None
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    return Destination(
        scheme=parts.scheme,
        host=host,
        port=port if port is not None else (443 if parts.scheme == "https" else 80),
        target=target,
        literal=literal,
    )


def _valid_hostname(host: str) -> bool:
    if len(host) > 253:
        return False
    labels = host.split(".")
    return all(
        0 < len(label) <= 63
        and not label.startswith("-")
        and not label.endswith("-")
        and all(c.isalnum() or c == "-" for c in label)
        and label.isascii()
        for label in labels
    )
