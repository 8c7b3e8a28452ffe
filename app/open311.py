"""Open311 GeoReport v2 (X23 对外服务接口, issue 18): the spec's documents, API keys, the gate.

The six methods of https://wiki.open311.org/GeoReport_v2 are served by ``app.http.open311``;
this module holds what they share:

- the spec's documents: ``discovery``, ``services``, ``service_definition``, the error list,
  and ``render`` (JSON, or XML built with the standard library's ElementTree, which escapes every value);
- API keys issued per client system and scoped to a center (``onemap open311 keys issue NAME
  --center CODE``): stored as SHA-256 only (``keys.open311_key``); a key acts as an account of
  its center (city/town/department operator) on ``/open311/*`` only;
- ``gate``: what ``app.auth``'s gate does for ``/open311/*``: a valid ``api_key`` (query or form
  field) is the credential, like a bearer token (no cookie, so no CSRF token); a wrong one is
  refused (403, audited); reads without a key are public (safe fields only) or refused, per
  ``settings.open311_public_reads`` (discovery is always public);
- ``locate``: where a request is: ``lat``/``long``; else ``address_id`` (a grid cell code); else
  ``address_string`` looked up in the city's gazetteer (village, then town names); else the
  address is kept and the place is unknown (routed to the city center, 辖区外/无网格).
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any
from xml.etree import ElementTree as etree

from flask import Response, jsonify, request

from app import keys, security
from grid.categories import CATEGORIES
from incidents.actor import Actor

SPEC_URL = "http://wiki.open311.org/GeoReport_v2"
CHANGESET = "2026-12-07T00:00:00+08:00"
"""When the served interface last changed (discovery's ``changeset``)."""
FORMATS = ("json", "xml")
XML_TYPE = "text/xml; charset=utf-8"
PUBLIC = Actor("open311:public", "wall_viewer", "CITY", "Open311 公开查询")
"""Who an anonymous public read reads as: the city's read-only role (大屏), never acting."""
KEY_ROLE = {"C": "city_operator", "T": "town_operator", "D": "dept_operator"}
"""A client key's role by its center's kind (CITY, T<town>, D<dept>): reports and reads there."""

LIMITS = {"description": 4000, "address_string": 400, "address_id": 64, "media_url": 2000,
          "email": 254, "device_id": 200, "account_id": 200, "first_name": 100,
          "last_name": 100, "phone": 40, "service_code": 16, "jurisdiction_id": 200}
"""Longest accepted value of each POST field (``description``: the spec's 4,000 characters;
the others: generous bounds so that nothing unbounded is stored)."""
CONTACT = ("email", "device_id", "account_id", "first_name", "last_name", "phone")
"""Reporter contact a POST may carry: kept beside the request, never served by a read."""

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
"""Characters XML 1.0 cannot carry at all (escaping cannot help): dropped from XML answers."""
_PLURAL = {"attributes": "attribute", "values": "value", "endpoints": "endpoint",
           "formats": "format"}


# --- API keys --------------------------------------------------------------------------------

def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def issue_key(r, name: str, center: str, centers: set[str] | dict) -> str:  # noqa: ANN001
    """签发: a new api_key for client system ``name`` at ``center``; returns the key (shown once).
    Issuing again for a name replaces its key (the old one stops working)."""
    if not name or len(name) > 64 or not name.replace("-", "").replace("_", "").isalnum():
        raise ValueError("客户端名称应为 1–64 个字母、数字、- 或 _ (client name: 1-64 letters, "
                         "digits, - or _)")
    if center not in centers:
        raise ValueError(f"未知的中心 {center!r} (unknown center)")
    revoke_key(r, name)
    key = secrets.token_urlsafe(32)
    h = _hash(key)
    r.set(keys.open311_key(h), name)
    r.hset(keys.OPEN311_CLIENTS, name, json.dumps(
        {"center": center, "hash": h, "created": time.time(), "revoked": 0}))
    return key


def revoke_key(r, name: str) -> bool:  # noqa: ANN001
    """吊销: the client's key stops working at once. False when there was no live key."""
    raw = r.hget(keys.OPEN311_CLIENTS, name)
    if not raw:
        return False
    rec = json.loads(raw)
    r.delete(keys.open311_key(rec["hash"]))
    live = not rec.get("revoked")
    rec["revoked"] = rec.get("revoked") or time.time()
    r.hset(keys.OPEN311_CLIENTS, name, json.dumps(rec))
    return live


def clients(r) -> list[dict]:  # noqa: ANN001
    """Every client system with a key issued (live or revoked), by name."""
    return [dict(json.loads(v), name=k) for k, v in sorted(r.hgetall(keys.OPEN311_CLIENTS).items())]


def client_for(r, key: str) -> dict | None:  # noqa: ANN001
    """The live client an api_key belongs to (``name``, ``center``), else None."""
    if not key or len(key) > 200:
        return None
    name = r.get(keys.open311_key(_hash(key)))
    raw = r.hget(keys.OPEN311_CLIENTS, name) if name else None
    if not raw:
        return None
    rec = json.loads(raw)
    return None if rec.get("revoked") else dict(rec, name=name)


def actor_for(client: dict) -> Actor:
    """The account a client key acts as: an operator of its center, named after the client."""
    center = client["center"]
    return Actor(f"open311:{client['name']}", KEY_ROLE[center[0]], center,
                 f"Open311 {client['name']}")


# --- the gate --------------------------------------------------------------------------------

@dataclass
class Gate:
    """What ``app.auth``'s gate does with an ``/open311/*`` request: answer ``refusal``; or act
    as ``actor`` (a key's account) and skip the rest (``done``); or go on as for any path."""

    refusal: Response | None = None
    actor: Actor | None = None
    done: bool = False


def gate(ctx, anonymous: bool) -> Gate:  # noqa: ANN001
    """The Open311 part of the login gate (see the module docstring)."""
    key = request.values.get("api_key")
    if key:
        client = client_for(ctx.redis, key)
        if client is None:
            security.audit(ctx.redis, "token_rejected", path=request.path, reason="open311 api_key")
            security.count(ctx.redis, "denied")
            return Gate(error(403, "api_key 无效或已吊销 (invalid or revoked api_key)"), done=True)
        return Gate(actor=actor_for(client), done=True)
    if not anonymous:
        return Gate()                      # a session: the usual rules (CSRF on POST)
    if request.method in security.SAFE_METHODS:
        if ctx.settings.open311_public_reads or "/discovery." in request.path:
            return Gate(done=True)         # a public read: safe fields only (the views)
        return Gate(error(401, "须提供 api_key (api_key required)"), done=True)
    return Gate(error(403, "须提供 api_key (api_key required to post)"), done=True)


# --- the spec's documents ----------------------------------------------------------------------

def fmt_of(path: str) -> str:
    """The response format a path asks for (``.xml`` or else JSON)."""
    return "xml" if path.endswith(".xml") else "json"


def _xml_value(parent: etree.Element, name: str, value: Any) -> None:
    el = etree.SubElement(parent, name)
    if isinstance(value, list):
        for v in value:
            _xml_item(el, _PLURAL.get(name, "item"), v)
    elif isinstance(value, dict):
        for k, v in value.items():
            _xml_value(el, k, v)
    elif isinstance(value, bool):
        el.text = "true" if value else "false"
    elif value is not None:
        el.text = _NOT_XML.sub("", str(value))   # ElementTree escapes <, &, > itself


def _xml_item(parent: etree.Element, name: str, value: Any) -> None:
    if isinstance(value, dict):
        el = etree.SubElement(parent, name)
        for k, v in value.items():
            _xml_value(el, k, v)
    else:
        _xml_value(parent, name, value)


def to_xml(data: Any, root: str, item: str | None = None) -> bytes:
    """``data`` as the spec's XML: a list → ``<root><item>…</item>…</root>``, a dict → ``<root>
    <field>…</field></root>``; lists inside by their singular (attributes/attribute…)."""
    el = etree.Element(root)
    if isinstance(data, list):
        for d in data:
            _xml_item(el, item or "item", d)
    else:
        for k, v in data.items():
            _xml_value(el, k, v)
    return etree.tostring(el, encoding="utf-8", xml_declaration=True)


def render(data: Any, root: str, item: str | None, fmt: str, status: int = 200) -> Response:
    """One response in the asked format."""
    if fmt == "xml":
        return Response(to_xml(data, root, item), status=status, content_type=XML_TYPE)
    resp = jsonify(data)
    resp.status_code = status
    return resp


def error(status: int, description: str, fmt: str | None = None) -> Response:
    """The spec's error document: ``[{"code": …, "description": …}]`` / ``<errors><error>``."""
    return render([{"code": status, "description": description}], "errors", "error",
                  fmt or fmt_of(request.path), status)


def discovery(base_url: str, settings) -> dict:  # noqa: ANN001
    """服务发现: where this server's GeoReport v2 endpoint is and what it speaks."""
    return {"changeset": CHANGESET, "contact": "城市运行管理中心 (OneMap city operations center)",
            "key_service": "onemap open311 keys issue NAME --center CODE (管理员签发)",
            "endpoints": [{"specification": SPEC_URL, "url": base_url.rstrip("/") + "/open311/v2",
                           "changeset": CHANGESET, "type": "production",
                           "formats": ["application/json", "text/xml"]}]}


def services() -> list[dict]:
    """Every second-level category (4-digit code) as an Open311 service."""
    out = []
    for code, cat in CATEGORIES.items():
        if len(code) != 4:
            continue
        group = CATEGORIES[code[:2]].name
        out.append({"service_code": code, "service_name": cat.name, "description": cat.name,
                    "metadata": False, "type": "realtime", "keywords": group, "group": group})
    return out


def service_definition(code: str) -> dict | None:
    """A service's definition: no extra attributes (``metadata`` is false for every service)."""
    if len(code) != 4 or code not in CATEGORIES:
        return None
    return {"service_code": code, "attributes": []}


# --- where a request is ------------------------------------------------------------------------

def locate(city, address_string: str, address_id: str) -> tuple[float, float, str] | None:  # noqa: ANN001
    """(lon, lat, how) for a request without ``lat``/``long``: ``address_id`` a grid cell's code
    (its representative point, ``how`` = 'address'); else the longest village/community name,
    then town name, found in ``address_string``; None when nothing matches."""
    if address_id:
        cells = city.cells[city.cells["code"] == address_id]
        if len(cells):
            p = cells.geometry.iloc[0].representative_point()
            return float(p.x), float(p.y), "address"
    if not address_string:
        return None
    for frame in (city.villages, city.towns):
        best = None
        for name, geom in zip(frame["name"], frame.geometry, strict=True):
            if name and name in address_string and (best is None or len(name) > len(best[0])):
                best = (name, geom)
        if best is not None:
            p = best[1].representative_point()
            return float(p.x), float(p.y), "address"
    return None


def outside(city) -> tuple[float, float]:  # noqa: ANN001
    """A point just outside the city (south-west of its bounds): a request whose address nobody
    could place is reported there, so it is routed as having no grid cell (to the city center);
    its view shows no ``lat``/``long``."""
    minx, miny, _, _ = city.towns.total_bounds
    return float(minx) - 0.05, float(miny) - 0.05
