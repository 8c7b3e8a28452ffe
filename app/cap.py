"""CAP 1.2 alert intake (外部预警, e.g. the weather bureau): parse safely, map to an intake.

Parsed with defusedxml: DTDs, entities and external references are refused (billion laughs,
XXE), and the caller gets a clear 400. Only the fields OneMap uses are read.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring

from incidents.vocab import State

NS = "urn:oasis:names:tc:emergency:cap:1.2"
_N = {"cap": NS}

SEVERITY = {"Extreme": "特别重大", "Severe": "重大", "Moderate": "较大", "Minor": "一般",
            "Unknown": "一般"}
"""CAP severity → incident severity (national four levels). Assumption, configurable."""

EVENT_CATEGORY = (("山洪", "0301"), ("洪", "0301"), ("内涝", "0302"), ("积水", "0302"),
                  ("地质", "0303"), ("滑坡", "0303"), ("泥石流", "0303"), ("森林火", "0305"),
                  ("水位", "0306"), ("Flood", "0301"), ("Landslide", "0303"), ("Fire", "0305"))
"""Event text → category (first match); anything else is 0304 气象灾害 (weather). Assumption."""
DEFAULT_CATEGORY = "0304"


class CapError(ValueError):
    """A CAP document OneMap refuses. ``kind``: hostile | malformed | invalid."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass
class CapAlert:
    """The parts of a CAP 1.2 alert that become an incident."""

    identifier: str
    sender: str
    sent: str
    status: str
    msg_type: str
    event: str
    severity: str            # CAP value (Extreme, Severe, …)
    urgency: str
    certainty: str
    headline: str
    description: str
    area_desc: str
    lon: float | None
    lat: float | None
    polygon: list[tuple[float, float]] = field(default_factory=list)   # (lon, lat)

    @property
    def incident_severity(self) -> str:
        return SEVERITY.get(self.severity, "一般")

    @property
    def category(self) -> str:
        text = f"{self.event} {self.headline}"
        return next((c for word, c in EVENT_CATEGORY if word in text), DEFAULT_CATEGORY)


def _t(el, path: str) -> str:
    found = el.find(path, _N)
    return (found.text or "").strip() if found is not None else ""


def _points(text: str) -> list[tuple[float, float]]:
    pts = []
    for pair in text.split():
        lat, lon = pair.split(",")[:2]     # CAP writes "lat,lon"
        pts.append((float(lon), float(lat)))
    return pts


def parse(xml: bytes) -> CapAlert:
    """Parse a CAP 1.2 ``<alert>``; raises CapError (hostile / malformed / invalid)."""
    try:
        root = fromstring(xml, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise CapError("hostile", f"refused XML construct: {type(exc).__name__}") from exc
    except ParseError as exc:
        raise CapError("malformed", f"not well-formed XML: {exc}") from exc
    if root.tag != f"{{{NS}}}alert":
        raise CapError("invalid", "root element is not a CAP 1.2 <alert>")
    info = root.find("cap:info", _N)
    if info is None:
        raise CapError("invalid", "CAP alert without <info>")
    lon = lat = None
    polygon: list[tuple[float, float]] = []
    area = info.find("cap:area", _N)
    area_desc = ""
    try:
        if area is not None:
            area_desc = _t(area, "cap:areaDesc")
            poly = _t(area, "cap:polygon")
            circle = _t(area, "cap:circle")
            if poly:
                polygon = _points(poly)
                ring = polygon[:-1] if len(polygon) > 1 and polygon[0] == polygon[-1] else polygon
                lon = sum(p[0] for p in ring) / len(ring)
                lat = sum(p[1] for p in ring) / len(ring)
            elif circle:
                (lon, lat), = _points(circle.split()[0])
    except (ValueError, IndexError) as exc:
        raise CapError("invalid", f"bad CAP area geometry: {exc}") from exc
    identifier = _t(root, "cap:identifier")
    if not identifier:
        raise CapError("invalid", "CAP alert without <identifier>")
    return CapAlert(identifier=identifier, sender=_t(root, "cap:sender"), sent=_t(root, "cap:sent"),
                    status=_t(root, "cap:status"), msg_type=_t(root, "cap:msgType"),
                    event=_t(info, "cap:event"), severity=_t(info, "cap:severity"),
                    urgency=_t(info, "cap:urgency"), certainty=_t(info, "cap:certainty"),
                    headline=_t(info, "cap:headline"), description=_t(info, "cap:description"),
                    area_desc=area_desc, lon=lon, lat=lat, polygon=polygon)


SEVERITY_OUT = {"特别重大": "Extreme", "重大": "Severe", "较大": "Moderate", "一般": "Minor"}
"""Incident severity → CAP severity (the inverse of ``SEVERITY``)."""


def to_cap(inc: dict, sender: str, area_desc: str = "", status: str = "Actual") -> bytes:
    """An incident (``Incident.to_dict()``) as a CAP 1.2 ``<alert>`` (预警发布): one ``<info>``
    with a 0.5 km circle around the incident. Built with ElementTree (no text is parsed)."""
    import xml.etree.ElementTree as ET  # noqa: PLC0415 (building only; parsing uses defusedxml)
    from datetime import UTC, datetime  # noqa: PLC0415

    ET.register_namespace("", NS)

    def sub(parent, tag: str, text: str | None = None):
        el = ET.SubElement(parent, f"{{{NS}}}{tag}")
        if text is not None:
            el.text = str(text)
        return el

    alert = ET.Element(f"{{{NS}}}alert")
    sub(alert, "identifier", f"{sender}-{inc['id']}")
    sub(alert, "sender", sender)
    sent = datetime.fromtimestamp(inc.get("updated_ts") or inc.get("created_ts") or 0, UTC)
    sub(alert, "sent", sent.isoformat(timespec="seconds"))
    sub(alert, "status", status)
    sub(alert, "msgType", "Update" if inc.get("state") not in (State.REPORTED, State.ACCEPTED) else "Alert")
    sub(alert, "scope", "Restricted")
    sub(alert, "restriction", "政务内网 / government intranet")
    info = sub(alert, "info")
    sub(info, "language", "zh-CN")
    sub(info, "category", "Met" if str(inc.get("category", "")).startswith("03") else "Safety")
    sub(info, "event", inc.get("category_name") or inc.get("category", ""))
    sub(info, "urgency", "Immediate" if inc.get("severity") in ("重大", "特别重大") else "Expected")
    sub(info, "severity", SEVERITY_OUT.get(inc.get("severity", ""), "Unknown"))
    sub(info, "certainty", "Observed")
    sub(info, "headline", inc.get("title") or "")
    sub(info, "description", inc.get("description") or "")
    area = sub(info, "area")
    sub(area, "areaDesc", area_desc or inc.get("town_code", ""))
    sub(area, "circle", f"{inc['lat']:.6f},{inc['lon']:.6f} 0.5")
    return ET.tostring(alert, encoding="utf-8", xml_declaration=True)
