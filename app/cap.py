"""CAP 1.2 (OASIS Common Alerting Protocol) intake and output (外部预警 / 预警发布, X21, issue 18).

Intake, in order:
1. hostile XML refused (defusedxml: DTDs, entities, external references — billion laughs, XXE);
2. the document validated against the OASIS CAP 1.2 XML schema (``app/schemas/CAP-v1.2.xsd``,
   lxml ``XMLSchema``; parsed with ``resolve_entities=False, no_network=True``): every element,
   order, cardinality and type the schema defines;
3. the spec's rules the schema cannot express (``check``): identifiers and senders without
   spaces, commas, ``<`` or ``&``; ``references`` as "sender,identifier,sent" triples (and present
   for Update/Cancel/Ack/Error); polygons closed rings of ≥ 4 points in WGS 84 ranges; circles
   "lat,lon radius" with a positive radius; altitude ≤ ceiling, ceiling only with altitude.

``<geocode>`` areas resolve through ``Gazetteer``: the city's administrative-division codes
(行政区划代码: the county, its towns and villages) plus any configured code system.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring
from lxml import etree

from app import keys
from incidents.roles import having
from incidents.vocab import State

if TYPE_CHECKING:
    from grid.model import City

NS = "urn:oasis:names:tc:emergency:cap:1.2"
_N = {"cap": NS}
SCHEMA_PATH = Path(__file__).parent / "schemas" / "CAP-v1.2.xsd"
ATOM = "http://www.w3.org/2005/Atom"

SEVERITY = {"Extreme": "特别重大", "Severe": "重大", "Moderate": "较大", "Minor": "一般",
            "Unknown": "一般"}
"""CAP severity → incident severity (national four levels). Assumption, configurable."""

EVENT_CATEGORY = (("山洪", "0301"), ("洪", "0301"), ("内涝", "0302"), ("积水", "0302"),
                  ("地质", "0303"), ("滑坡", "0303"), ("泥石流", "0303"), ("森林火", "0305"),
                  ("水位", "0306"), ("Flood", "0301"), ("Landslide", "0303"), ("Fire", "0305"))
"""Event text → category (first match); anything else is 0304 气象灾害 (weather). Assumption."""
DEFAULT_CATEGORY = "0304"

ADMIN_CODE_NAMES = frozenset({"行政区划代码", "区划代码", "GB/T 2260", "GB2260", "ADCODE", "adcode",
                              "admin_code", "AdministrativeDivisionCode"})
"""``<geocode><valueName>`` spellings that mean China's administrative-division codes (行政区划代码:
6-digit county, 9-digit town/street, 12-digit village/community). Other code systems: ``Gazetteer.extra``."""

REFERENCE_TYPES = frozenset({"Update", "Cancel", "Ack", "Error"})
"""Message types that are about earlier messages: their ``<references>`` are required (CAP 1.2 §3.2.1)."""

_BAD_ID = re.compile(r"[\s,<&]")
_CAP_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[-+]\d\d:\d\d")
LOG_MAX = 5000
"""CAP messages kept in the log (newest first)."""


class CapError(ValueError):
    """A CAP document OneMap refuses. ``kind``: hostile | malformed | invalid."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass
class Area:
    """One ``<area>``: polygons ``[(lon, lat)…]``, circles ``(lon, lat, km)``, geocodes."""

    desc: str
    polygons: list[list[tuple[float, float]]] = field(default_factory=list)
    circles: list[tuple[float, float, float]] = field(default_factory=list)
    geocodes: list[tuple[str, str]] = field(default_factory=list)
    altitude: float | None = None
    ceiling: float | None = None


@dataclass
class CapAlert:
    """A CAP 1.2 message as OneMap understands it (the first ``<info>`` drives the incident)."""

    identifier: str
    sender: str
    sent: str
    status: str
    msg_type: str
    event: str = ""
    severity: str = ""       # CAP value (Extreme, Severe, …)
    urgency: str = ""
    certainty: str = ""
    headline: str = ""
    description: str = ""
    area_desc: str = ""
    lon: float | None = None
    lat: float | None = None
    polygon: list[tuple[float, float]] = field(default_factory=list)   # (lon, lat)
    references: list[tuple[str, str, str]] = field(default_factory=list)
    expires: datetime | None = None
    areas: list[Area] = field(default_factory=list)
    has_info: bool = False
    note: str = ""

    @property
    def incident_severity(self) -> str:
        return SEVERITY.get(self.severity, "一般")

    @property
    def category(self) -> str:
        text = f"{self.event} {self.headline}"
        return next((c for word, c in EVENT_CATEGORY if word in text), DEFAULT_CATEGORY)

    @property
    def geocodes(self) -> list[tuple[str, str]]:
        return [g for a in self.areas for g in a.geocodes]

    def expired(self, now: float) -> bool:
        """过期: its ``<info><expires>`` is in the past (CAP 1.2 §3.2.2)."""
        return self.expires is not None and self.expires.timestamp() < now


@cache
def schema() -> etree.XMLSchema:
    """The OASIS CAP 1.2 schema (loaded once; it imports nothing, no network)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    return etree.XMLSchema(etree.parse(str(SCHEMA_PATH), parser))


def schema_errors(doc: etree._Element) -> list[str]:
    """Where ``doc`` breaks the CAP 1.2 schema (empty when valid)."""
    s = schema()
    if s.validate(doc):
        return []
    return [f"line {e.line}: {e.message}" for e in s.error_log]


def _time(text: str, what: str) -> datetime:
    """A CAP dateTime: with its time zone (never ``Z``: CAP 1.2 §3.3.2 writes ``-00:00``)."""
    if not _CAP_TIME.fullmatch(text):
        raise CapError("invalid", f"{what} 时间须带时区 (CAP dateTime with time zone): {text!r}")
    try:
        return datetime.fromisoformat(text)
    except ValueError as exc:
        raise CapError("invalid", f"{what} 时间无效 (invalid dateTime {text!r})") from exc


def _pair(text: str, what: str) -> tuple[float, float]:
    """"lat,lon" (WGS 84) → (lon, lat), inside the valid ranges."""
    try:
        lat_s, lon_s = text.split(",")
        lat, lon = float(lat_s), float(lon_s)
    except ValueError as exc:
        raise CapError("invalid", f"{what}: 坐标应为 \"纬度,经度\" (a point is \"lat,lon\"): {text!r}") from exc
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise CapError("invalid", f"{what}: 坐标超出范围 (latitude/longitude out of range): {text!r}")
    return lon, lat


def _polygon(text: str) -> list[tuple[float, float]]:
    """A closed ring of ≥ 4 points (CAP 1.2 §3.2.4 polygon)."""
    pts = [_pair(p, "polygon") for p in text.split()]
    if len(pts) < 4:
        raise CapError("invalid", f"polygon 至少 4 个点且首尾相同 (a polygon is a closed ring of at "
                                  f"least 4 points; got {len(pts)})")
    if pts[0] != pts[-1]:
        raise CapError("invalid", "polygon 首尾点须相同 (the first and last points must be equal)")
    return pts


def _circle(text: str) -> tuple[float, float, float]:
    """"lat,lon radius" with a positive radius in km (CAP 1.2 §3.2.4 circle)."""
    parts = text.split()
    if len(parts) != 2:
        raise CapError("invalid", f"circle 应为 \"纬度,经度 半径\" (a circle is \"lat,lon radius\"): {text!r}")
    lon, lat = _pair(parts[0], "circle")
    try:
        radius = float(parts[1])
    except ValueError as exc:
        raise CapError("invalid", f"circle 半径无效 (bad radius {parts[1]!r})") from exc
    if not radius > 0:
        raise CapError("invalid", f"circle 半径须为正数 (the radius must be positive): {parts[1]}")
    return lon, lat, radius


def _references(text: str | None) -> list[tuple[str, str, str]]:
    """"sender,identifier,sent" triples separated by white space (CAP 1.2 §3.2.1 references)."""
    out = []
    if text is None:
        return out
    if not text.strip():
        raise CapError("invalid", "references 为空 (an empty <references>)")
    for item in text.split():
        parts = item.split(",")
        if len(parts) != 3 or not all(parts):
            raise CapError("invalid", f"references 应为 \"发送者,标识,时间\" (\"sender,identifier,sent\"): {item!r}")
        _time(parts[2], "references")
        out.append((parts[0], parts[1], parts[2]))
    return out


def _t(el, path: str) -> str:
    found = el.find(path, _N)
    return (found.text or "").strip() if found is not None else ""


def _dec(el, path: str) -> float | None:
    text = _t(el, path)
    return float(text) if text else None


def _area(el) -> Area:
    a = Area(desc=_t(el, "cap:areaDesc"),
             polygons=[_polygon(p.text or "") for p in el.findall("cap:polygon", _N)],
             circles=[_circle((c.text or "").strip()) for c in el.findall("cap:circle", _N)],
             geocodes=[(_t(g, "cap:valueName"), _t(g, "cap:value")) for g in el.findall("cap:geocode", _N)],
             altitude=_dec(el, "cap:altitude"), ceiling=_dec(el, "cap:ceiling"))
    if a.ceiling is not None and a.altitude is None:
        raise CapError("invalid", "ceiling 须与 altitude 同用 (ceiling only with altitude)")
    if a.ceiling is not None and a.altitude is not None and a.altitude > a.ceiling:
        raise CapError("invalid", f"altitude 高于 ceiling (altitude {a.altitude} above ceiling {a.ceiling})")
    return a


def parse(xml: bytes) -> CapAlert:
    """Parse and validate a CAP 1.2 ``<alert>``; raises CapError (hostile / malformed / invalid)."""
    try:
        fromstring(xml, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise CapError("hostile", f"refused XML construct: {type(exc).__name__}") from exc
    except ParseError as exc:
        raise CapError("malformed", f"not well-formed XML: {exc}") from exc
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                             huge_tree=False, remove_comments=True)
    try:
        root = etree.fromstring(xml, parser)
    except etree.XMLSyntaxError as exc:
        raise CapError("malformed", f"not well-formed XML: {exc}") from exc
    if root.tag != f"{{{NS}}}alert":
        raise CapError("invalid", "root element is not a CAP 1.2 <alert>")
    errors = schema_errors(root)
    if errors:
        raise CapError("invalid", "不符合 CAP 1.2 模式 (not valid against the CAP 1.2 schema): "
                                  + "; ".join(errors[:3]))
    return check(root)


def check(root) -> CapAlert:
    """The CAP 1.2 rules the schema cannot express (``root``: a schema-valid ``<alert>``)."""
    identifier, sender = _t(root, "cap:identifier"), _t(root, "cap:sender")
    for what, value in (("identifier", identifier), ("sender", sender)):
        if not value or _BAD_ID.search(value):
            raise CapError("invalid", f"{what} 不得为空或含空格、逗号、< 或 & "
                                      f"({what} must not be empty or contain spaces, commas, < or &): {value!r}")
    sent = _t(root, "cap:sent")
    _time(sent, "sent")
    msg_type = _t(root, "cap:msgType")
    ref_el = root.find("cap:references", _N)
    refs = _references(None if ref_el is None else (ref_el.text or ""))
    if msg_type in REFERENCE_TYPES and not refs:
        raise CapError("invalid", f"{msg_type} 须有 references (a {msg_type} names the messages it is about)")
    if _t(root, "cap:scope") == "Restricted" and not _t(root, "cap:restriction"):
        raise CapError("invalid", "scope=Restricted 须有 restriction (Restricted needs <restriction>)")
    if _t(root, "cap:scope") == "Private" and not _t(root, "cap:addresses"):
        raise CapError("invalid", "scope=Private 须有 addresses (Private needs <addresses>)")
    alert = CapAlert(identifier=identifier, sender=sender, sent=sent, status=_t(root, "cap:status"),
                     msg_type=msg_type, references=refs, note=_t(root, "cap:note"))
    infos = root.findall("cap:info", _N)
    for info in infos:
        for tag in ("effective", "onset", "expires"):
            if text := _t(info, f"cap:{tag}"):
                _time(text, tag)
        for a in info.findall("cap:area", _N):
            alert.areas.append(_area(a))
    if not infos:
        return alert
    info = infos[0]
    alert.has_info = True
    alert.event, alert.severity = _t(info, "cap:event"), _t(info, "cap:severity")
    alert.urgency, alert.certainty = _t(info, "cap:urgency"), _t(info, "cap:certainty")
    alert.headline, alert.description = _t(info, "cap:headline"), _t(info, "cap:description")
    if text := _t(info, "cap:expires"):
        alert.expires = _time(text, "expires")
    if alert.areas:
        first = alert.areas[0]
        alert.area_desc = first.desc
        if first.polygons:
            alert.polygon = first.polygons[0]
            ring = alert.polygon[:-1]
            alert.lon = sum(p[0] for p in ring) / len(ring)
            alert.lat = sum(p[1] for p in ring) / len(ring)
        elif first.circles:
            alert.lon, alert.lat, _ = first.circles[0]
    return alert


# --- gazetteer: <geocode> → town / village --------------------------------------------------------
@dataclass
class Gazetteer:
    """地名录: a ``<geocode>`` → the town (镇街) or village (村居) it names.

    The city's administrative-division codes (行政区划代码: the county itself, its towns and
    villages, as in ``grid/``) under any of ``ADMIN_CODE_NAMES``; other code systems (e.g. the
    weather service's zone ids) through ``extra``: ``{valueName: {value: town/village code}}``,
    loaded from a JSON file (``load``)."""

    city: City
    extra: dict[str, dict[str, str]] = field(default_factory=dict)

    @classmethod
    def load(cls, city: City, path: str | Path | None) -> Gazetteer:
        """The gazetteer with the mapping file at ``path`` (JSON, see the class doc), if any."""
        extra = json.loads(Path(path).read_text(encoding="utf-8")) if path else {}
        return cls(city, {str(k): {str(a): str(b) for a, b in v.items()} for k, v in extra.items()})

    def code_for(self, value_name: str, value: str) -> str | None:
        """The town or village code (or the county's) a geocode names, else None."""
        if value_name in self.extra:
            return self.extra[value_name].get(value)
        if value_name in ADMIN_CODE_NAMES:
            value = value.strip()
            # 12-digit statistical codes pad towns with 000 (440981001000 is the town 440981001)
            if len(value) == 12 and value.endswith("000") and value[:9] in self.city.town_names:
                return value[:9]
            if value in self.city.town_names or value in self.city.village_names \
                    or value == self.city.admin_code:
                return value
        return None

    def place(self, geocodes: list[tuple[str, str]]) -> tuple[float, float, str] | None:
        """A point inside the first place the geocodes name, and that place's name (None when
        none is of this city). Several towns → the county as a whole (its city center)."""
        codes = [c for g in geocodes if (c := self.code_for(*g))]
        if not codes:
            return None
        c = self.city
        towns = {x[:9] if x in c.village_names else x for x in codes if x != c.admin_code}
        if len(towns) == 1 and len(codes) == 1 and codes[0] in c.village_names:
            df, code, name = c.villages, codes[0], c.village_names[codes[0]]
        elif len(towns) == 1 and c.admin_code not in codes:
            code = next(iter(towns))
            df, name = c.towns, c.town_names.get(code, code)
        else:
            pt = c.boundary.representative_point()
            return pt.x, pt.y, c.name
        geom = df.loc[df["code"] == code].geometry.iloc[0]
        pt = geom.representative_point()
        return pt.x, pt.y, name


# --- the CAP log (recorded messages) ----------------------------------------------------------------
def record(redis, alert: CapAlert, outcome: str, *, incident_id: str = "", reason: str = "",
           by: str = "", now: float = 0.0) -> dict:
    """记录: every message taken in, whatever became of it (Test/Exercise/System, Ack/Error,
    expired, cancelled…), visible at ``GET /api/cap/messages``."""
    item = {"sender": alert.sender, "identifier": alert.identifier, "sent": alert.sent,
            "status": alert.status, "msgType": alert.msg_type, "event": alert.event,
            "severity": alert.severity, "headline": alert.headline[:200],
            "area": alert.area_desc[:200], "references": [",".join(r) for r in alert.references],
            "outcome": outcome, "incident": incident_id, "reason": reason, "by": by, "ts": now}
    pipe = redis.pipeline(transaction=True)
    pipe.lpush(keys.CAP_LOG, json.dumps(item, ensure_ascii=False))
    pipe.ltrim(keys.CAP_LOG, 0, LOG_MAX - 1)
    if incident_id:
        pipe.hset(keys.CAP_REFS, f"{alert.sender},{alert.identifier}", incident_id)
        if outcome == "opened":     # whose the case is: only its opener's Cancel voids it
            pipe.hset(keys.CAP_REFS, f"opened:{incident_id}", alert.sender)
    pipe.execute()
    return item


def messages(redis, status: str = "", limit: int = 200) -> list[dict]:
    """The recorded messages, newest first (``status``: only that CAP status)."""
    rows = [json.loads(x) for x in redis.lrange(keys.CAP_LOG, 0, LOG_MAX - 1)]
    return [r for r in rows if not status or r["status"] == status][:limit]


def incident_for(redis, sender: str, identifier: str) -> str | None:
    """The incident an earlier message (``sender``, ``identifier``) opened or changed."""
    return redis.hget(keys.CAP_REFS, f"{sender},{identifier}")


def opened_by(redis, incident_id: str) -> str | None:
    """The CAP sender whose alert opened ``incident_id`` (None: it was not opened by CAP)."""
    return redis.hget(keys.CAP_REFS, f"opened:{incident_id}")


def allow_sender(redis, user_id: str, allowed: bool = True) -> None:
    """登记/撤销 a CAP sender account (e.g. the weather bureau's API account)."""
    (redis.sadd if allowed else redis.srem)(keys.CAP_SENDERS, user_id)


def may_send(redis, user_id: str, role: str) -> bool:
    """Who may send CAP: a registered sender account, or the city center's duty staff who relay
    an alert received another way (市值班员/市指挥长); not every reporting role."""
    return role in CITY_DUTY_ROLES or bool(redis.sismember(keys.CAP_SENDERS, user_id))


CITY_DUTY_ROLES = having("reads_city") & having("reports")
"""The city center's duty staff (市值班员/市指挥长), from the one role table."""


# --- CAP out --------------------------------------------------------------------------------------
SEVERITY_OUT = {"特别重大": "Extreme", "重大": "Severe", "较大": "Moderate", "一般": "Minor"}
"""Incident severity → CAP severity (the inverse of ``SEVERITY``)."""


def _cap_time(ts: float) -> str:
    return datetime.fromtimestamp(ts or 0, UTC).isoformat(timespec="seconds")


def to_cap_element(inc: dict, sender: str, area_desc: str = "", status: str = "Actual"):
    """An incident (``Incident.to_dict()``) as a CAP 1.2 ``<alert>`` element (预警发布): one
    ``<info>`` with a 0.5 km circle around the incident; valid against the OASIS schema."""
    def sub(parent, tag: str, text: str | None = None):
        el = etree.SubElement(parent, f"{{{NS}}}{tag}")
        if text is not None:
            el.text = str(text)
        return el

    alert = etree.Element(f"{{{NS}}}alert", nsmap={None: NS})
    sub(alert, "identifier", f"{sender}-{inc['id']}")
    sub(alert, "sender", sender)
    sub(alert, "sent", _cap_time(inc.get("updated_ts") or inc.get("created_ts") or 0))
    sub(alert, "status", status)
    sub(alert, "msgType", "Alert")
    sub(alert, "scope", "Restricted")
    sub(alert, "restriction", "政务内网 / government intranet")
    info = sub(alert, "info")
    sub(info, "language", "zh-CN")
    sub(info, "category", "Met" if str(inc.get("category", "")).startswith("03") else "Safety")
    sub(info, "event", inc.get("category_name") or inc.get("category", "") or "事件")
    sub(info, "urgency", "Immediate" if inc.get("severity") in ("重大", "特别重大") else "Expected")
    sub(info, "severity", SEVERITY_OUT.get(inc.get("severity", ""), "Unknown"))
    sub(info, "certainty", "Observed")
    sub(info, "senderName", "城市运行管理中心")
    sub(info, "headline", inc.get("title") or "")
    sub(info, "description", inc.get("description") or "")
    area = sub(info, "area")
    sub(area, "areaDesc", area_desc or inc.get("town_code", "") or "辖区")
    sub(area, "circle", f"{inc['lat']:.6f},{inc['lon']:.6f} 0.5")
    return alert


def to_cap(inc: dict, sender: str, area_desc: str = "", status: str = "Actual") -> bytes:
    """``to_cap_element`` as a document (``application/cap+xml``)."""
    return etree.tostring(to_cap_element(inc, sender, area_desc, status), encoding="utf-8",
                          xml_declaration=True)


def atom_feed(incs: list[tuple[dict, str]], sender: str, city_name: str, base_url: str,
              now: float) -> bytes:
    """信息快速发布 (X21): the city's warnings as an Atom feed (RFC 4287) of CAP 1.2 alerts, one
    entry per incident (``(Incident.to_dict(), area name)``), the alert inline as its content
    (the OASIS CAP feed profile: ``<content type="application/cap+xml">``)."""
    A = f"{{{ATOM}}}"  # noqa: N806
    feed = etree.Element(f"{A}feed", nsmap={None: ATOM})

    def sub(parent, tag: str, text: str | None = None, **attrs: str):
        el = etree.SubElement(parent, f"{A}{tag}", attrs)
        if text is not None:
            el.text = text
        return el

    sub(feed, "id", f"urn:onemap:{sender}:cap-feed")
    sub(feed, "title", f"{city_name}预警信息发布 (CAP 1.2)")
    newest = max((i.get("updated_ts") or i.get("created_ts") or 0 for i, _ in incs), default=now)
    sub(feed, "updated", _cap_time(newest))
    sub(sub(feed, "author"), "name", f"{city_name}城市运行管理中心")
    sub(feed, "link", rel="self", href=f"{base_url}/api/cap/feed.atom",
        type="application/atom+xml")
    for inc, area in incs:
        entry = sub(feed, "entry")
        sub(entry, "id", f"urn:onemap:{sender}:{inc['id']}")
        sub(entry, "title", inc.get("title") or inc.get("category_name") or inc["id"])
        sub(entry, "updated", _cap_time(inc.get("updated_ts") or inc.get("created_ts") or 0))
        sub(entry, "link", rel="alternate", type="application/cap+xml",
            href=f"{base_url}/api/incidents/{inc['id']}/cap.xml")
        sub(entry, "summary", f"{inc.get('severity', '')} {area}".strip())
        content = sub(entry, "content", type="application/cap+xml")
        content.append(to_cap_element(inc, sender, area))
    return etree.tostring(feed, encoding="utf-8", xml_declaration=True)


def is_open(inc: dict) -> bool:
    """Still live (neither closed nor voided)."""
    return inc.get("state") not in (State.CLOSED, State.VOIDED)


def senders(redis) -> list[str]:
    """The registered CAP sender accounts, sorted."""
    return sorted(redis.smembers(keys.CAP_SENDERS))
