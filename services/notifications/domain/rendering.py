"""Render a notification in the recipient's language (Simplified Chinese first, English second).

Templates are Jinja2 run in `SandboxedEnvironment` (no attribute access to internals, no I/O) with
chainable undefined values, so a field an older producer does not send renders empty instead of
failing. A template that still fails falls back to a neutral message naming the type: a rendering
bug never blocks a delivery. Output is plain text: the first line is the subject.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from jinja2 import ChainableUndefined, TemplateError, Undefined
from jinja2.sandbox import SandboxedEnvironment

from services.notifications.domain.labels import LABELS
from services.notifications.domain.messages_en import EN
from services.notifications.domain.messages_zh import ZH
from shared.workdays import SHANGHAI

log = logging.getLogger("gongyi.notifications.rendering")

CATALOGUES: dict[str, dict[str, str]] = {"zh-CN": ZH, "en": EN}
FALLBACK_LOCALE = "en"
MAX_SUBJECT = 200


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    body: str
    locale: str


_NO_GRADE = {"zh-CN": "无等级", "en": "no grade"}
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def _blank(value: Any) -> bool:
    return value is None or isinstance(value, Undefined) or value == ""


def _as_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.astimezone(SHANGHAI).date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            if len(value) == 10:
                return date.fromisoformat(value)
            return _as_instant(value).astimezone(SHANGHAI).date()
        except ValueError:
            return None
    return None


def _as_instant(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    instant = datetime.fromisoformat(str(value))
    if instant.tzinfo is None:
        raise ValueError("naive instant")
    return instant


def _make_filters(locale: str) -> dict[str, Any]:
    zh = locale == "zh-CN"
    labels = LABELS[locale]

    def money(value: Any) -> str:
        if _blank(value):
            return ""
        amount = value.get("amount") if isinstance(value, Mapping) else value
        try:
            number = Decimal(str(amount))
        except (InvalidOperation, ValueError):
            return str(amount)
        text = f"{number:,.2f}"
        return f"{text} 元" if zh else f"CNY {text}"

    def day(value: Any) -> str:
        if _blank(value):
            return ""
        d = _as_date(value)
        if d is None:
            return str(value)
        return f"{d.year}年{d.month}月{d.day}日" if zh else f"{d.day} {_MONTHS[d.month - 1]} {d.year}"

    def when(value: Any) -> str:
        if _blank(value):
            return ""
        try:
            local = _as_instant(value).astimezone(SHANGHAI)
        except ValueError:
            return str(value)
        if local.hour == 0 and local.minute == 0:
            # a period ending at 24:00 reads as the end of the previous day
            previous = local.date().fromordinal(local.date().toordinal() - 1)
            return f"{day(previous)}24:00" if zh else f"{day(previous)}, 24:00 (Beijing time)"
        return f"{day(local.date())} {local:%H:%M}" if zh else f"{day(local.date())}, {local:%H:%M} (Beijing time)"

    def grade(value: Any) -> str:
        return _NO_GRADE[locale] if _blank(value) else str(value)

    def label(value: Any, kind: str) -> str:
        if _blank(value):
            return ""
        return labels.get(kind, {}).get(str(value), str(value))

    def reasons(value: Any) -> str:
        if _blank(value) or not isinstance(value, list):
            return ""
        lines = []
        head = "原因" if zh else "Reason"
        basis_label = "依据" if zh else "basis"
        for item in value:
            if isinstance(item, Mapping):
                text = str(item.get("detail") or item.get("rule") or "")
                basis = item.get("basis")
                lines.append(
                    f"· {head}：{text}（{basis_label}：{basis}）"
                    if zh and basis
                    else f"· {head}：{text}"
                    if zh
                    else f"- {head}: {text} ({basis_label}: {basis})"
                    if basis
                    else f"- {head}: {text}"
                )
            else:
                lines.append(f"· {item}" if zh else f"- {item}")
        return "\n".join(lines)

    return {"money": money, "day": day, "when": when, "grade": grade, "label": label, "reasons": reasons}


@functools.cache
def _environment(locale: str) -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        undefined=ChainableUndefined, autoescape=False, trim_blocks=False, keep_trailing_newline=False
    )
    env.filters.update(_make_filters(locale))
    return env


@functools.cache
def _template(locale: str, name: str) -> Any:
    return _environment(locale).from_string(CATALOGUES[locale][name])


def has_template(name: str, locale: str) -> bool:
    return name in CATALOGUES.get(locale, {})


def render(name: str, locale: str, context: Mapping[str, Any]) -> Rendered:
    """Subject and body of notification type `name`; the other locale when one lacks the template."""
    chosen = locale if has_template(name, locale) else FALLBACK_LOCALE
    if not has_template(name, chosen):
        chosen = "zh-CN" if has_template(name, "zh-CN") else chosen
    try:
        text = _template(chosen, name).render(**context)
    except (TemplateError, KeyError, TypeError, ValueError, AttributeError):
        log.exception("template %s/%s failed; sending the neutral message", chosen, name)
        text = _neutral(name, chosen, context)
    lines = [line.rstrip() for line in text.strip().splitlines()]
    subject = " ".join(lines[0].split())[:MAX_SUBJECT] if lines else name
    body = "\n".join(lines[1:]).strip()
    return Rendered(subject=subject or name, body=body, locale=chosen)


def _neutral(name: str, locale: str, context: Mapping[str, Any]) -> str:
    event = context.get("event") or {}
    subject = event.get("subject", "") if isinstance(event, Mapping) else ""
    if locale == "zh-CN":
        return f"新通知：{name}\n事项：{subject}\n请登录系统查看详情。"
    return f"New notification: {name}\nConcerning: {subject}\nSign in to see the details."
