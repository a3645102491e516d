"""Indicator templates (DOMAIN.md §2): a tree of indicators with a max per leaf, plus bonus items.

A template is data (presets under `presets/templates/`, copies made by officers). Every inner
node's max is the sum of its children's; the top-level groups add up to the template's `total`
(1000 or 100 points) — their maxima are the group weights the file states. Bonus items sit beside
the tree, each with its own max; an evaluator's total includes them, capped by the rule set.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.evaluation.domain.points import Invalid, fmt, parse_points

_CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")
MAX_COMMENT = 2000


@dataclass(frozen=True)
class Leaf:
    code: str
    name: str
    max: int  # hundredths
    group: str  # code of the top-level group ("bonus" for bonus items)
    bonus: bool = False


@dataclass(frozen=True)
class Template:
    total: int  # hundredths
    leaves: Mapping[str, Leaf]  # every scorable item, tree leaves and bonus items, by code
    groups: tuple[tuple[str, str, int], ...]  # (code, name, max) of the top-level groups

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(code for code, leaf in self.leaves.items() if not leaf.bonus)

    def validate_scores(self, scores: Mapping[str, Any], comments: Mapping[str, Any] | None = None) -> dict[str, int]:
        """Refuse unknown indicators, malformed values and scores above a leaf's max, naming each."""
        errors: list[dict[str, str]] = []
        out: dict[str, int] = {}
        above = False
        for code, raw in scores.items():
            where = f"scores.{code}"
            leaf = self.leaves.get(code)
            if leaf is None:
                errors.append(
                    {
                        "field": where,
                        "message": f"indicator {code} does not exist in this template (or is a group, not a leaf)",
                    }
                )
                continue
            try:
                value = parse_points(raw, where)
            except Invalid as e:
                errors.extend(e.errors)
                continue
            if value > leaf.max:
                above = True
                errors.append(
                    {
                        "field": where,
                        "message": f"indicator {code} {leaf.name} is worth at most "
                        f"{fmt(leaf.max)} points; got {fmt(value)}",
                    }
                )
                continue
            out[code] = value
        for code, text in (comments or {}).items():
            if code not in self.leaves:
                errors.append({"field": f"comments.{code}", "message": f"indicator {code} does not exist"})
            elif not isinstance(text, str) or len(text) > MAX_COMMENT:
                errors.append({"field": f"comments.{code}", "message": f"a comment is text of at most {MAX_COMMENT}"})
        if errors:
            raise Invalid(errors, rule="scores.above_leaf_max" if above else "scores.invalid")
        return out

    def missing(self, scores: Mapping[str, int]) -> list[str]:
        return [code for code in self.required if code not in scores]

    def total_of(self, scores: Mapping[str, int], cap: int | None) -> int:
        """Base points plus bonus points, capped at `cap` hundredths (None: the template's total)."""
        value = sum(scores.values())
        limit = self.total if cap is None else cap
        return min(value, limit)

    def group_totals(self, scores: Mapping[str, int]) -> dict[str, int]:
        totals = {code: 0 for code, _, _ in self.groups}
        totals["bonus"] = 0
        for code, value in scores.items():
            leaf = self.leaves.get(code)
            if leaf is not None:
                totals[leaf.group] = totals.get(leaf.group, 0) + value
        return totals


def parse_template(document: Mapping[str, Any]) -> Template:
    """Validate a template document; totals that do not add up are refused with the node named."""
    errors: list[dict[str, str]] = []
    leaves: dict[str, Leaf] = {}
    seen: set[str] = set()

    def node_max(node: Mapping[str, Any], where: str) -> int | None:
        try:
            value = parse_points(node.get("max"), f"{where}.max")
        except Invalid as e:
            errors.extend(e.errors)
            return None
        if value <= 0:
            errors.append({"field": f"{where}.max", "message": "max must be positive"})
            return None
        return value

    def walk(node: Any, where: str, group: str | None) -> int | None:
        if not isinstance(node, Mapping):
            errors.append({"field": where, "message": "an indicator is {code, name, max, children?}"})
            return None
        code, name = node.get("code"), node.get("name")
        if not isinstance(code, str) or not _CODE_RE.match(code):
            errors.append({"field": f"{where}.code", "message": "code: 1–40 letters, digits, '.', '_' or '-'"})
            return None
        if code in seen:
            errors.append({"field": f"{where}.code", "message": f"code {code} is used twice"})
        seen.add(code)
        if not isinstance(name, str) or not name.strip():
            errors.append({"field": f"{where}.name", "message": f"indicator {code} needs a name"})
            name = code
        value = node_max(node, where)
        children = node.get("children") or []
        if not isinstance(children, list):
            errors.append({"field": f"{where}.children", "message": "children is a list"})
            return value
        top = group or code
        if not children:
            if value is not None:
                leaves[code] = Leaf(code, name, value, top)
            return value
        sums = [walk(child, f"{where}.children.{i}", top) for i, child in enumerate(children)]
        if value is not None and all(s is not None for s in sums):
            total = sum(s for s in sums if s is not None)
            if total != value:
                errors.append(
                    {
                        "field": f"{where}.max",
                        "message": f"indicator {code} {name} is worth "
                        f"{fmt(value)} but its children add up to {fmt(total)}",
                    }
                )
        return value

    total_raw = document.get("total")
    total = 0
    try:
        total = parse_points(total_raw, "total")
    except Invalid as e:
        errors.extend(e.errors)
    indicators = document.get("indicators")
    if not isinstance(indicators, list) or not indicators:
        raise Invalid([*errors, {"field": "indicators", "message": "a template needs its top-level groups"}])
    groups: list[tuple[str, str, int]] = []
    group_sum: int | None = 0
    for i, node in enumerate(indicators):
        value = walk(node, f"indicators.{i}", None)
        if value is None or group_sum is None:
            group_sum = None
        else:
            group_sum += value
            groups.append((str(node["code"]), str(node.get("name") or node["code"]), value))
    if group_sum is not None and total and group_sum != total:
        errors.append(
            {
                "field": "total",
                "message": f"the template is worth {fmt(total)} but its groups add up to {fmt(group_sum)}",
            }
        )
    bonus = document.get("bonus") or []
    if not isinstance(bonus, list):
        errors.append({"field": "bonus", "message": "bonus is a list of {code, name, max}"})
        bonus = []
    for i, node in enumerate(bonus):
        where = f"bonus.{i}"
        if not isinstance(node, Mapping) or node.get("children"):
            errors.append({"field": where, "message": "a bonus item is {code, name, max} without children"})
            continue
        code, name = node.get("code"), node.get("name")
        if not isinstance(code, str) or not _CODE_RE.match(code) or code in seen:
            errors.append({"field": f"{where}.code", "message": "a unique code of letters, digits, '.', '_', '-'"})
            continue
        seen.add(code)
        value = node_max(node, where)
        if value is not None:
            leaves[code] = Leaf(code, str(name or code), value, "bonus", bonus=True)
    if errors:
        raise Invalid(errors)
    return Template(total=total, leaves=leaves, groups=tuple(groups))
