"""Each person's channels, mutes and digest (DOMAIN.md §4), and the directory's field rules.

- Channels for people are `inbox`, `email` and `sms`; the inbox is always on (it is the record).
- A muted type produces nothing for that person; mandatory (legal) types cannot be muted and
  always reach the inbox and, when an address is known, email — whatever the channel choice.
- With the daily digest (the default for officers) optional notifications wait for the morning
  summary instead of an email each; the inbox still gets them at once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from services.notifications.domain.catalogue import TYPES, NotificationType

Channel = Literal["inbox", "email", "sms"]
Digest = Literal["off", "daily"]
CHANNELS: tuple[Channel, ...] = ("inbox", "email", "sms")
DEFAULT_CHANNELS: tuple[Channel, ...] = ("inbox", "email")
LOCALES = ("zh-CN", "en")
DEFAULT_LOCALE = "zh-CN"

_EMAIL = re.compile(r"^[^@\s<>()\[\],;:\"\\]{1,64}@[^@\s<>()\[\],;:\"\\]+\.[^@\s<>()\[\],;:\"\\.]{2,}$")
_MOBILE = re.compile(r"^(?:\+86|0086)?1[3-9]\d{9}$")


class PreferenceError(ValueError):
    """A preference or directory value refused; `rule` and `field` name it for the problem body."""

    def __init__(self, rule: str, field: str, detail: str) -> None:
        super().__init__(detail)
        self.rule, self.field, self.detail = rule, field, detail


@dataclass(frozen=True, slots=True)
class Preferences:
    muted_types: frozenset[str] = frozenset()
    channels_by_type: Mapping[str, frozenset[Channel]] = field(default_factory=dict)
    digest: Digest = "off"


def default_digest(role: str) -> Digest:
    return "daily" if role == "officer" else "off"


def choose_channels(
    ntype: NotificationType,
    *,
    channels: Iterable[str],
    preferences: Preferences,
    has_email: bool,
    has_phone: bool,
) -> tuple[Channel, ...]:
    """The channels one person gets for one notification, inbox first; empty when muted."""
    if not ntype.mandatory and ntype.name in preferences.muted_types:
        return ()
    chosen: set[str] = set(preferences.channels_by_type.get(ntype.name, frozenset(channels)))
    chosen.add("inbox")
    if ntype.mandatory:
        chosen.add("email")
    elif preferences.digest == "daily":
        chosen -= {"email", "sms"}
    if not has_email:
        chosen.discard("email")
    if not has_phone:
        chosen.discard("sms")
    return tuple(c for c in CHANNELS if c in chosen)


def validate_preferences(muted_types: Iterable[str], channels_by_type: Mapping[str, Iterable[str]]) -> Preferences:
    muted: set[str] = set()
    for i, name in enumerate(muted_types):
        ntype = TYPES.get(name)
        if ntype is None:
            raise PreferenceError("preferences.unknown_type", f"muted_types.{i}", f"unknown notification type {name!r}")
        if ntype.mandatory:
            raise PreferenceError(
                "preferences.mandatory_type",
                f"muted_types.{i}",
                f"{name} is a legal notice ({ntype.label_zh}) and cannot be muted",
            )
        muted.add(name)
    by_type: dict[str, frozenset[Channel]] = {}
    for name, chans in channels_by_type.items():
        if name not in TYPES:
            raise PreferenceError(
                "preferences.unknown_type", f"channels_by_type.{name}", f"unknown notification type {name!r}"
            )
        by_type[name] = validate_channels(chans, field=f"channels_by_type.{name}")
    return Preferences(muted_types=frozenset(muted), channels_by_type=by_type)


def validate_channels(channels: Iterable[str], *, field: str = "channels") -> frozenset[Channel]:
    out: set[Channel] = set()
    for c in channels:
        if c not in CHANNELS:
            raise PreferenceError("preferences.unknown_channel", field, f"unknown channel {c!r}; one of {CHANNELS}")
        out.add(c)
    out.add("inbox")
    return frozenset(out)


def normalize_email(value: str, *, field: str = "email") -> str:
    """Trimmed, domain lower-cased; refuses anything that is not one plain address."""
    text = value.strip()
    if len(text) > 254 or not _EMAIL.match(text):
        raise PreferenceError("recipient.email_invalid", field, "not an email address")
    local, _, domain = text.rpartition("@")
    return f"{local}@{domain.lower()}"


def normalize_mobile(value: str, *, field: str = "phone") -> str:
    """A mainland mobile number (SMS only reaches mobiles), digits only, without +86."""
    digits = re.sub(r"[\s\-()]", "", value)
    if not _MOBILE.match(digits):
        raise PreferenceError("recipient.phone_invalid", field, "not a mainland mobile number (11 digits, 13–19…)")
    return digits[-11:]


def mask_email(value: str) -> str:
    """`zhang.san@example.org` → `z********@example.org`."""
    local, _, domain = value.rpartition("@")
    if not local:
        return "***"
    return f"{local[0]}{'*' * max(len(local) - 1, 3)}@{domain}"


def normalize_locale(value: str | None) -> str:
    if not value:
        return DEFAULT_LOCALE
    low = value.strip().lower().replace("_", "-")
    if low.startswith("en"):
        return "en"
    if low.startswith("zh"):
        return "zh-CN"
    raise PreferenceError("recipient.locale_unsupported", "locale", f"locale {value!r}: one of {LOCALES}")
