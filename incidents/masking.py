"""Data masking (数据脱敏, SEC18, SEC20): reporters' phone numbers and personal names, shown
masked to the roles that do not need them (``RoleSpec.sees_personal_data``).

Where personal data lives in a case: ``reporter`` (who reported: an account id, or the caller a
hotline operator typed in), each source's ``reporter`` and ``ref`` (a hotline caller's number or
name, another system's reference), and phone numbers written into ``title`` / ``description``
(a 12345 hotline note: "市民张先生 13812345678 反映…"). Free text keeps its words; only the
numbers in it are masked (names in prose cannot be told from other words reliably).

The one function every surface uses (API summary and detail, exports, Open311) is
``view(d, role)``: a masked copy of an incident dict (``Incident.to_dict()``, ``app.api.summary``
or an export row) for a role without the right, the dict itself for a role with it.
"""

from __future__ import annotations

import re
from typing import Any

from incidents import roles

_MOBILE = re.compile(r"(?<!\d)(1[3-9]\d)\d{4}(\d{4})(?!\d)")
"""A mainland mobile number (11 digits, 13x–19x): ``138****5678``."""
_LANDLINE = re.compile(r"(?<!\d)(0\d{2,3}-?)\d{3,4}(\d{4})(?!\d)")
"""A landline with its area code (020-12345678, 0668-1234567): ``020-****5678``."""
_CJK = re.compile(r"^[\u3400-\u9fff·]{2,6}$")
_TEXT_FIELDS = ("title", "description")
_PERSON_FIELDS = ("reporter", "ref", "contact", "caller", "caller_name", "phone")


def sees(role: str | None) -> bool:
    """May ``role`` read reporters' phone numbers and names unmasked (``sees_personal_data``)?
    Unknown or no role: no."""
    try:
        return bool(role) and roles.spec(role).sees_personal_data  # type: ignore[arg-type]
    except (KeyError, ValueError):
        return False


def phones(text: str) -> str:
    """Every phone number inside ``text`` masked (``138****5678``, ``020-****5678``)."""
    if not text or not any(c.isdigit() for c in text):
        return text
    text = _MOBILE.sub(lambda m: f"{m[1]}****{m[2]}", text)
    return _LANDLINE.sub(lambda m: f"{m[1]}****{m[2]}", text)


def name(value: str) -> str:
    """A Chinese personal name: its surname kept (``张*``, ``欧阳**``: the first character,
    then a ``*`` for each other one)."""
    return value[:1] + "*" * (len(value) - 1) if value else value


def id_number(value: str) -> str:
    """A resident ID number (居民身份证号, the ledger's people, issue 24): its first 6 (the area)
    and last 4 characters kept (``440981********1234``)."""
    if not isinstance(value, str) or len(value) <= 10:
        return "*" * len(value) if isinstance(value, str) else value
    return f"{value[:6]}{'*' * (len(value) - 10)}{value[-4:]}"


def person(value: Any) -> Any:
    """Who reported, masked: a phone number as ``phones``; a Chinese name as ``name``; any
    other identifier (an account id, a caller id) keeps its first 2 and last 2 characters."""
    if not isinstance(value, str) or not value:
        return value
    masked = phones(value)
    if masked != value:
        return masked
    if _CJK.match(value):
        return name(value)
    if len(value) <= 4:
        return value[:1] + "*" * (len(value) - 1)
    return f"{value[:2]}{'*' * min(len(value) - 4, 6)}{value[-2:]}"


def _names(d: dict) -> list[str]:
    """The personal names the case itself names (its reporters): masked in its prose too."""
    found = [d.get(f) for f in _PERSON_FIELDS]
    for s in d.get("sources") or ():
        if isinstance(s, dict):
            found += [s.get(f) for f in _PERSON_FIELDS]
    return sorted({v for v in found if isinstance(v, str) and _CJK.match(v)}, key=len,
                  reverse=True)


def _source(s: Any, names: list[str]) -> Any:
    if not isinstance(s, dict):
        return s
    out = dict(s)
    for f in _PERSON_FIELDS:
        if f in out:
            out[f] = person(out[f])
    for f in _TEXT_FIELDS:
        if isinstance(text := out.get(f), str):
            for n in names:
                text = text.replace(n, name(n))
            out[f] = phones(text)
    return out


def view(d: dict, role: str | None) -> dict:
    """``d`` (an incident as a dict: detail, list summary or export row) as ``role`` may see it:
    unchanged for a role that ``sees`` personal data, else a copy with ``reporter``/``ref``
    and the like masked, phone numbers and the reporters' names in its texts masked, and its
    sources masked alike."""
    if sees(role):
        return d
    names = _names(d)
    out = _source(d, names)
    if isinstance(out.get("sources"), list):
        out["sources"] = [_source(s, names) for s in out["sources"]]
    return out


__all__ = ["id_number", "name", "person", "phones", "sees", "view"]
