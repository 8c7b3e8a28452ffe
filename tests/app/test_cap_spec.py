"""CAP 1.2 as real publishers write it (issue 18, X21): validation against the OASIS schema plus
the spec's rules, message semantics (Alert/Update/Cancel/Ack, Test, expired), geocode areas
through the gazetteer, who may send, and the Atom feed of the city's warnings (valid Atom + CAP).

One web app over a real redis-server for the whole module (Flask's client, no fake services).
"""

from __future__ import annotations

import json
import re
from datetime import datetime

import pytest
import redis
from lxml import etree

from app import cap
from app.users import UserStore
from incidents.actor import SYSTEM
from tests.app.authkit import KIOSK, PASSWORD
from tests.app.test_api import DA, PZ, point_in

NS = cap.NS
HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">'
SENDER = "qxj"        # 气象局: the weather bureau's API account, registered as a CAP sender


@pytest.fixture(scope="module")
def site(redis_service, demo_city, demo_devices, tmp_path_factory):
    """The web app over a flushed Redis, the demo accounts, a registered CAP sender with an API
    token, and a gazetteer file for one more code system (the bureau's warning zones)."""
    from app.config import Settings  # noqa: PLC0415
    from app.context import AppContext  # noqa: PLC0415
    from app.server import create_server  # noqa: PLC0415
    from app.users import ensure_demo_users  # noqa: PLC0415

    redis.Redis.from_url(redis_service.url).flushall()
    d = tmp_path_factory.mktemp("cap")
    gaz = d / "gazetteer.json"
    gaz.write_text(json.dumps({"QXZONE": {"GZ-07": DA}}), encoding="utf-8")
    ctx = AppContext(Settings(secret_key="c" * 64, kiosk_token=KIOSK, data_dir=d,
                              cap_gazetteer=str(gaz)), redis_service.url)
    ctx.__dict__["city"] = demo_city
    ctx.__dict__["devices"] = demo_devices
    ensure_demo_users(ctx.redis, demo_city, PASSWORD)
    users = UserStore(ctx.redis)
    users.add(SENDER, PASSWORD, "dept_operator", "DYJ", "高州市气象局预警发布")
    cap.allow_sender(ctx.redis, SENDER)
    server = create_server(ctx)
    server.config["TESTING"] = True
    tokens = {u: users.issue_token(u) for u in (SENDER, "ops", "shuili")}
    return ctx, server, tokens


def post(site, doc: str, user: str = SENDER):
    _, server, tokens = site
    return server.test_client().post("/api/cap", data=doc.encode(), headers={
        "Authorization": f"Bearer {tokens[user]}", "Content-Type": "application/cap+xml"})


def get(site, path: str, user: str = "ops"):
    _, server, tokens = site
    return server.test_client().get(path, headers={"Authorization": f"Bearer {tokens[user]}"})


def alert(identifier: str, body: str, *, status: str = "Actual", msg_type: str = "Alert",
          sender: str = "gdqx@gd.gov.cn", sent: str = "2026-11-22T10:00:00+08:00", extra: str = "") -> str:
    """A CAP 1.2 alert's header in the schema's order, then ``extra`` (note/references) and ``body``."""
    return (f"{HEAD}<identifier>{identifier}</identifier><sender>{sender}</sender><sent>{sent}</sent>"
            f"<status>{status}</status><msgType>{msg_type}</msgType><scope>Public</scope>{extra}{body}</alert>")


def info(area: str, *, event: str = "暴雨橙色预警", severity: str = "Severe", expires: str = "",
         headline: str = "高州市气象台发布暴雨橙色预警信号", extra: str = "") -> str:
    exp = f"<expires>{expires}</expires>" if expires else ""
    return (f"<info><language>zh-CN</language><category>Met</category><event>{event}</event>"
            f"<urgency>Immediate</urgency><severity>{severity}</severity><certainty>Likely</certainty>"
            f"{extra}{exp}<senderName>高州市气象台</senderName><headline>{headline}</headline>"
            f"<description>预计未来3小时累计雨量将达50毫米以上</description><area>{area}</area></info>")


def ring(city, town: str) -> str:
    """A closed polygon ring (CAP "lat,lon" pairs) around one grid cell of ``town``."""
    cells = city.cells[city.cells["town_code"] == town].sort_values("code")
    coords = list(cells.geometry.iloc[2].envelope.exterior.coords)
    return " ".join(f"{lat:.6f},{lon:.6f}" for lon, lat in coords)


def incident(site, inc_id: str):
    return site[0].incidents.store.load(inc_id)


# --- valid alerts, each with its expected result ----------------------------------------------------
def test_polygon_circle_and_geocode_alerts_open_in_the_right_town(site):
    """A weather bureau's polygon, a circle, and a geocode-only alert by 行政区划代码 (town code,
    as China's national early-warning system names areas) and by a configured code system."""
    city = site[0].city
    r = post(site, alert("GDQX-POLY-1", info(f"<areaDesc>潘州街道</areaDesc><polygon>{ring(city, PZ)}</polygon>")))
    assert r.status_code == 201, r.json
    assert (r.json["town_code"], r.json["severity"], r.json["channel"]) == (PZ, "重大", "external")
    lon, lat = point_in(city, PZ, 4)
    r = post(site, alert("GDQX-CIRC-1", info(f"<areaDesc>潘州街道</areaDesc><circle>{lat},{lon} 1.5</circle>",
                                             event="雷雨大风黄色预警", severity="Moderate")))
    assert r.status_code == 201 and r.json["town_code"] == PZ and r.json["severity"] == "较大", r.json
    geo = ("<areaDesc>东岸镇</areaDesc><geocode><valueName>行政区划代码</valueName>"
           f"<value>{DA}</value></geocode>")
    r = post(site, alert("GDQX-GEO-1", info(geo, event="山洪灾害预警")))
    assert r.status_code == 201, r.json
    assert r.json["town_code"] == DA and r.json["category"] == "0301"
    zone = "<areaDesc>七号预警区</areaDesc><geocode><valueName>QXZONE</valueName><value>GZ-07</value></geocode>"
    r = post(site, alert("GDQX-GEO-2", info(zone, event="高温预警", severity="Minor")))
    assert r.status_code == 201 and r.json["town_code"] == DA, r.json
    unknown = "<areaDesc>别处</areaDesc><geocode><valueName>行政区划代码</valueName><value>110101</value></geocode>"
    r = post(site, alert("GDQX-GEO-3", info(unknown)))
    assert r.status_code == 422 and r.json["error"] == "no_location"


def test_update_changes_and_cancel_without_info_voids_the_referenced_incident(site):
    city = site[0].city
    lon, lat = point_in(city, PZ, 6)
    first = alert("GDQX-UPD-0", info(f"<areaDesc>潘州街道</areaDesc><circle>{lat},{lon} 2</circle>",
                                     event="暴雨黄色预警", severity="Moderate"))
    r = post(site, first)
    assert r.status_code == 201
    inc_id = r.json["id"]
    # another publisher's alert for the same rain joins the town's case (outside the bureau
    # account's scope: a receipt, issue 19); its Cancel leaves the case to its owner
    joined = alert("SZQX-J-1", info(f"<areaDesc>潘州街道</areaDesc><circle>{lat},{lon} 2</circle>",
                                    event="暴雨黄色预警", severity="Moderate"), sender="szqx@gd.gov.cn")
    r = post(site, joined)
    assert r.status_code == 200 and r.json["intake"] in ("correlated", "merged"), r.json
    assert len(incident(site, inc_id).sources) == 2
    r = post(site, alert("SZQX-J-2", "", msg_type="Cancel", sender="szqx@gd.gov.cn",
                         extra="<references>szqx@gd.gov.cn,SZQX-J-1,2026-11-22T10:00:00+08:00</references>"))
    assert r.status_code in (200, 202) and r.json["outcome"] in ("cancelled", "recorded"), r.json
    assert incident(site, inc_id).state != "voided"
    ref = "<references>gdqx@gd.gov.cn,GDQX-UPD-0,2026-11-22T10:00:00+08:00</references>"
    upd = alert("GDQX-UPD-1", info(f"<areaDesc>潘州街道及周边</areaDesc><circle>{lat},{lon} 5</circle>",
                                   event="暴雨红色预警", severity="Extreme", headline="暴雨黄色预警升级为红色"),
                msg_type="Update", sent="2026-11-22T11:00:00+08:00", extra=ref)
    r = post(site, upd)
    assert r.status_code == 200 and r.json["outcome"] == "updated" and r.json["incident"] == inc_id, r.json
    inc = incident(site, inc_id)
    assert inc.severity == "特别重大" and inc.center == "CITY"           # raised: the city owns it
    trail = json.dumps(site[0].incidents.timeline(inc_id, SYSTEM), ensure_ascii=False)
    assert "GDQX-UPD-1" in trail and "暴雨黄色预警升级为红色" in trail          # audited in the trail
    assert post(site, upd).json["outcome"] == "duplicate"
    cancel = alert("GDQX-UPD-2", "", msg_type="Cancel", sent="2026-11-22T12:00:00+08:00",
                   extra="<note>预警解除</note><references>gdqx@gd.gov.cn,GDQX-UPD-0,2026-11-22T10:00:00+08:00 "
                         "gdqx@gd.gov.cn,GDQX-UPD-1,2026-11-22T11:00:00+08:00</references>")
    r = post(site, cancel)
    assert r.status_code == 200 and r.json["outcome"] == "cancelled" and r.json["incidents"] == [inc_id], r.json
    inc = incident(site, inc_id)
    assert inc.state == "voided" and "预警解除" in inc.void_reason
    late = upd.replace("GDQX-UPD-1", "GDQX-UPD-3")           # an Update after the Cancel: no effect
    r = post(site, late)
    assert r.status_code == 202 and r.json["outcome"] == "recorded" and incident(site, inc_id).state == "voided"


def test_test_ack_and_expired_alerts_are_recorded_never_dispatched(site):
    city = site[0].city
    lon, lat = point_in(city, PZ, 8)
    n0 = site[0].redis.zcard("om:inc:all")
    r = post(site, alert("GDQX-TEST-1", info(f"<areaDesc>潘州街道</areaDesc><circle>{lat},{lon} 1</circle>"),
                         status="Test"))
    assert r.status_code == 202 and r.json["outcome"] == "recorded" and not r.json["incident"]
    r = post(site, alert("GDQX-OLD-1", info(f"<areaDesc>潘州街道</areaDesc><circle>{lat},{lon} 1</circle>",
                                            expires="2020-06-01T18:00:00+08:00")))
    assert r.status_code == 200 and r.json["outcome"] == "expired"
    r = post(site, alert("GDQX-ACK-1", "", msg_type="Ack",
                         extra="<references>gdqx@gd.gov.cn,GDQX-POLY-1,2026-11-22T10:00:00+08:00</references>"))
    assert r.status_code == 202 and r.json["msgType"] == "Ack"
    assert site[0].redis.zcard("om:inc:all") == n0                      # nothing opened
    tests = get(site, "/api/cap/messages?status=Test").json["items"]
    assert [m["identifier"] for m in tests] == ["GDQX-TEST-1"]
    outcomes = {m["identifier"]: m["outcome"] for m in get(site, "/api/cap/messages").json["items"]}
    assert outcomes["GDQX-OLD-1"] == "expired" and outcomes["GDQX-ACK-1"] == "recorded"


# --- the spec's appendix examples (their facts, rewritten) --------------------------------------------
HOMELAND = (f"{HEAD}<identifier>43b080713727</identifier><sender>hsas@dhs.gov</sender>"
            "<sent>2003-04-02T14:39:01-05:00</sent><status>Actual</status><msgType>Alert</msgType>"
            "<scope>Public</scope><info><category>Security</category>"
            "<event>Homeland Security Advisory System Update</event><urgency>Immediate</urgency>"
            "<severity>Severe</severity><certainty>Likely</certainty>"
            "<senderName>U.S. Government, Department of Homeland Security</senderName>"
            "<headline>Homeland Security Sets Code ORANGE</headline>"
            "<description>The Department of Homeland Security has elevated the Homeland Security "
            "Advisory System threat level to ORANGE / High in response to intelligence.</description>"
            "<instruction>A High Condition is declared when there is a high risk of terrorist attacks."
            "</instruction><web>http://www.dhs.gov/dhspublic/display?theme=29</web>"
            "<parameter><valueName>HSAS</valueName><value>ORANGE</value></parameter>"
            "<resource><resourceDesc>Image file (GIF)</resourceDesc><mimeType>image/gif</mimeType>"
            "<uri>http://www.dhs.gov/dhspublic/getAdvisoryImage</uri></resource>"
            "<area><areaDesc>U.S. nationwide and interests worldwide</areaDesc></area></info></alert>")

THUNDERSTORM = (f"{HEAD}<identifier>KSTO1055887203</identifier><sender>KSTO@NWS.NOAA.GOV</sender>"
                "<sent>2003-06-17T14:57:00-07:00</sent><status>Actual</status><msgType>Alert</msgType>"
                "<scope>Public</scope><info><category>Met</category><event>SEVERE THUNDERSTORM</event>"
                "<responseType>Shelter</responseType><urgency>Immediate</urgency><severity>Severe</severity>"
                "<certainty>Observed</certainty><eventCode><valueName>SAME</valueName><value>SVR</value>"
                "</eventCode><expires>2003-06-17T16:00:00-07:00</expires>"
                "<senderName>NATIONAL WEATHER SERVICE SACRAMENTO CA</senderName>"
                "<headline>SEVERE THUNDERSTORM WARNING</headline>"
                "<description>AT 254 PM PDT, NATIONAL WEATHER SERVICE DOPPLER RADAR INDICATED A SEVERE "
                "THUNDERSTORM OVER SOUTH CENTRAL ALPINE COUNTY, MOVING SOUTHEAST AT 5 MPH.</description>"
                "<instruction>TAKE SHELTER IN A STURDY BUILDING.</instruction>"
                "<contact>BARUFFALDI/JUSKIE</contact>"
                "<area><areaDesc>EXTREME NORTH CENTRAL TUOLUMNE COUNTY IN CALIFORNIA</areaDesc>"
                "<polygon>38.47,-120.14 38.34,-119.95 38.52,-119.74 38.62,-119.89 38.47,-120.14</polygon>"
                "<geocode><valueName>SAME</valueName><value>006109</value></geocode>"
                "<geocode><valueName>SAME</valueName><value>006009</value></geocode></area></info></alert>")

EARTHQUAKE = (f"{HEAD}<identifier>TRI13970876.2</identifier><sender>trinet@caltech.edu</sender>"
              "<sent>2003-06-11T20:56:00-07:00</sent><status>Actual</status><msgType>Update</msgType>"
              "<scope>Public</scope><references>trinet@caltech.edu,TRI13970876.1,2003-06-11T20:30:00-07:00"
              "</references><info><category>Geo</category><event>Earthquake</event><urgency>Past</urgency>"
              "<severity>Minor</severity><certainty>Observed</certainty>"
              "<senderName>Southern California Seismic Network (TriNet) operated by Caltech and USGS"
              "</senderName><headline>EQ 3.4 Imperial County CA</headline>"
              "<description>A minor earthquake measuring 3.4 on the Richter scale occurred near Brawley, "
              "California.</description><web>http://www.trinet.org/scsn/scsn.html</web>"
              "<parameter><valueName>EventID</valueName><value>13970876</value></parameter>"
              "<parameter><valueName>Magnitude</valueName><value>3.4 Ml</value></parameter>"
              "<parameter><valueName>Depth</valueName><value>11.8 mi.</value></parameter>"
              "<area><areaDesc>1 km SSW of Brawley, CA</areaDesc><circle>32.9525,-115.5527 1</circle>"
              "</area></info></alert>")


def test_the_spec_appendix_examples_are_understood(site):
    """A.1 (homeland security advisory), A.2 (thunderstorm warning), A.3 (earthquake update):
    all valid CAP 1.2, understood field by field, and each gets the answer its facts call for."""
    hs = cap.parse(HOMELAND.encode())
    assert (hs.event, hs.incident_severity, hs.area_desc) == (
        "Homeland Security Advisory System Update", "重大", "U.S. nationwide and interests worldwide")
    r = post(site, HOMELAND)
    assert r.status_code == 422 and r.json["error"] == "no_location"      # no geometry, no code of ours
    ts = cap.parse(THUNDERSTORM.encode())
    assert len(ts.polygon) == 5 and ts.geocodes == [("SAME", "006109"), ("SAME", "006009")]
    r = post(site, THUNDERSTORM)                                           # expired in 2003
    assert r.status_code == 200 and r.json["outcome"] == "expired"
    eq = cap.parse(EARTHQUAKE.encode())
    assert eq.references == [("trinet@caltech.edu", "TRI13970876.1", "2003-06-11T20:30:00-07:00")]
    assert (eq.lon, eq.lat) == (-115.5527, 32.9525)
    r = post(site, EARTHQUAKE)          # an Update of an alert never received: taken as an Alert
    assert r.status_code == 422 and r.json["error"] == "outside_jurisdiction"


# --- invalid alerts: refused with a reason ------------------------------------------------------------
def _bad_cases(city) -> list[tuple[str, str, str]]:
    lon, lat = point_in(city, PZ, 1)
    ok_area = f"<areaDesc>潘州街道</areaDesc><circle>{lat},{lon} 1</circle>"
    return [
        ("empty references", alert("B1", "", msg_type="Cancel", extra="<references></references>"),
         "references"),
        ("altitude above ceiling", alert("B2", info(ok_area + "<altitude>500</altitude><ceiling>100</ceiling>")),
         "altitude"),
        ("negative radius", alert("B3", info(f"<areaDesc>x</areaDesc><circle>{lat},{lon} -2</circle>")),
         "radius"),
        ("comma in identifier", alert("B4,x", info(ok_area)), "identifier"),
        ("3-point polygon", alert("B5", info("<areaDesc>x</areaDesc><polygon>21.9,110.9 21.8,110.9 21.9,110.9"
                                             "</polygon>")), "polygon"),
        ("latitude 300", alert("B6", info(f"<areaDesc>x</areaDesc><circle>300,{lon} 1</circle>")), "range"),
        ("open ring", alert("B7", info("<areaDesc>x</areaDesc><polygon>21.9,110.9 21.8,110.9 21.8,111.0 "
                                       "21.9,111.0</polygon>")), "first and last"),
        ("no time zone", alert("B8", info(ok_area), sent="2026-11-22T10:00:00"), "schema"),
        ("unknown severity", alert("B9", info(ok_area, severity="Huge")), "schema"),
        ("Update without references", alert("B10", info(ok_area), msg_type="Update"), "references"),
        ("space in sender", alert("B11", info(ok_area), sender="qx bureau"), "sender"),
        ("elements out of order", alert("B12", info(ok_area)).replace(
            "<status>Actual</status><msgType>Alert</msgType>", "<msgType>Alert</msgType><status>Actual</status>"),
         "schema"),
    ]


def test_invalid_alerts_are_refused_with_a_reason(site):
    ctx = site[0]
    n0 = ctx.redis.zcard("om:inc:all")
    for name, doc, why in _bad_cases(ctx.city):
        r = post(site, doc)
        assert r.status_code == 400 and r.json["error"] == "invalid_cap", (name, r.json)
        assert why in r.json["reason"], (name, r.json["reason"])
    assert ctx.redis.zcard("om:inc:all") == n0


def test_only_registered_senders_may_send_cap(site):
    lon, lat = point_in(site[0].city, PZ, 2)
    doc = alert("GDQX-WHO-1", info(f"<areaDesc>潘州街道</areaDesc><circle>{lat},{lon} 1</circle>"))
    r = post(site, doc, user="shuili")                 # a reporting role, not a CAP sender
    assert r.status_code == 403 and r.json["error"] == "cap_sender"
    r = post(site, doc, user="ops")                    # the city center's duty relays alerts
    assert r.status_code in (200, 201) and r.json["intake"] in ("created", "correlated"), r.json


# --- CAP out: the Atom feed -------------------------------------------------------------------------
ATOM = "{http://www.w3.org/2005/Atom}"
RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")


def _one(el, tag: str):
    found = el.findall(f"{ATOM}{tag}")
    assert len(found) == 1, f"{el.tag} needs exactly one atom:{tag} (RFC 4287)"
    return found[0]


def test_the_feed_is_valid_atom_of_valid_cap_alerts(site):
    """信息快速发布 (X21): every 重大+ situation is an entry; the feed follows RFC 4287 (one id,
    title, updated per feed and entry, an author, RFC 3339 times, absolute IRIs) and each entry's
    content is a CAP 1.2 alert valid against the OASIS schema and the spec's rules."""
    r = get(site, "/api/cap/feed.atom")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/atom+xml")
    feed = etree.fromstring(r.data, etree.XMLParser(resolve_entities=False, no_network=True))
    assert feed.tag == f"{ATOM}feed"
    for tag in ("id", "title", "updated"):
        _one(feed, tag)
    assert _one(_one(feed, "author"), "name").text
    assert RFC3339.fullmatch(_one(feed, "updated").text)
    entries = feed.findall(f"{ATOM}entry")
    assert len(entries) >= 2                          # the 重大 polygon and geocode alerts
    voided = [i for i in site[0].redis.zrange("om:inc:all", 0, -1)
              if site[0].incidents.store.load(i).state == "voided"]
    assert voided and not any(v in e.findtext(f"{ATOM}id") for v in voided for e in entries)
    ids = set()
    for e in entries:
        ids.add(_one(e, "id").text)
        assert re.match(r"[a-z][a-z0-9+.-]*:", _one(e, "id").text)        # an absolute IRI
        assert _one(e, "title").text and RFC3339.fullmatch(_one(e, "updated").text)
        assert datetime.fromisoformat(_one(e, "updated").text).tzinfo is not None
        content = _one(e, "content")
        assert content.get("type") == "application/cap+xml" and len(content) == 1
        doc = content[0]
        assert cap.schema_errors(doc) == [], cap.schema_errors(doc)
        parsed = cap.check(doc)
        assert parsed.incident_severity in ("重大", "特别重大") and parsed.status == "Actual"
    assert len(ids) == len(entries)
    assert get(site, "/api/cap/feed.atom", user="shuili").status_code == 200   # scope: what it may read


def test_cap_senders_command(site, redis_service):
    """``onemap cap senders add/list/remove`` registers who may send (an unknown account is refused)."""
    from click.testing import CliRunner  # noqa: PLC0415

    from app.commands.cap import command  # noqa: PLC0415

    ctx = site[0]
    env = {"ONEMAP_REDIS_URL": redis_service.url}
    run = CliRunner().invoke
    assert run(command, ["senders", "add", "shuili"], env=env).exit_code == 0
    assert "shuili" in run(command, ["senders", "list"], env=env).output.split()
    assert cap.may_send(ctx.redis, "shuili", "dept_operator")
    assert run(command, ["senders", "remove", "shuili"], env=env).exit_code == 0
    assert not cap.may_send(ctx.redis, "shuili", "dept_operator")
    r = run(command, ["senders", "add", "nobody"], env=env)
    assert r.exit_code != 0 and "nobody" in r.output
