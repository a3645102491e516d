"""Names of organizations (DOMAIN.md §1): stored as entered after trimming and collapsing
whitespace; a separate key (NFKC + casefold + no whitespace) for duplicates and search.
"""

from __future__ import annotations

import re
import unicodedata

from services.registry.domain.codes import Finding

MAX_NAME = 200
# Zero-width characters and bidirectional controls: invisible, and used to forge look-alike names.
_INVISIBLE = frozenset(
    "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e"  # zero-width, soft hyphen, Mongolian vowel separator
    "\u200e\u200f\u061c\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"  # bidi marks, overrides
)
_WHITESPACE = re.compile(r"\s+")


def clean_name(value: str, *, field: str = "name") -> tuple[str, list[Finding]]:
    """The legal name as it will be stored, and why it is refused if it is."""
    bad = [c for c in value if c in _INVISIBLE or (unicodedata.category(c) == "Cc" and not c.isspace()) or c == "\x00"]
    if bad:
        names = ", ".join(sorted({f"U+{ord(c):04X}" for c in bad}))
        return value, [
            Finding(field, "name.invalid_characters", f"名称含有控制字符、零宽字符或双向控制字符（{names}）")
        ]
    name = _WHITESPACE.sub(" ", value).strip()
    if not name:
        return name, [Finding(field, "name.empty", "名称不能为空")]
    if len(name) > MAX_NAME:
        return name, [Finding(field, "name.too_long", f"名称不能超过 {MAX_NAME} 个字符")]
    return name, []


def name_key(name: str) -> str:
    """NFKC + casefold + whitespace removed: the key for duplicates and search. NFKC again after
    casefolding: folding can leave a decomposed sequence (o + U+0308), and the key must be stable."""
    key = name
    for _ in range(4):  # a fixpoint: NFKC can itself introduce a space (¨ → space + U+0308)
        folded = "".join(unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", key).casefold()).split())
        if folded == key:
            break
        key = folded
    return key


def search_key(query: str) -> str:
    """A search text normalised like names (trimmed, NFKC, casefold, no whitespace)."""
    return name_key(query.strip())


def name_grams(key: str) -> list[str]:
    """Every character and every pair of adjacent characters of a key: the index that answers
    1–2 character queries (养老, 社工) where trigram search cannot."""
    grams = set(key)
    grams.update(key[i : i + 2] for i in range(len(key) - 1))
    return sorted(grams)


def escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
