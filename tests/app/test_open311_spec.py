"""Open311 GeoReport v2, all six methods (X23, issue 18): every response validated against JSON
schemas written from the spec's field tables (https://wiki.open311.org/GeoReport_v2: types,
required fields, limits, the error format); every XML answer parses and carries the same fields;
API keys (issue/revoke, scoped to a center), public vs key-protected reads; real Open311
client libraries (PyPI ``civicbot`` for the whole cycle, ``georeport`` for JSON and XML reads)
drive OneMap over real HTTP, unpatched."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import jsonschema
import pytest
import requests
import xmltodict
from civicbot.http import HttpTransport, RateLimiter
from civicbot.open311 import Open311Client
from civicbot.registry import Endpoint
from click.testing import CliRunner
from georeport import GeoReport

from app import open311
from grid.model import town_center_code
from incidents.actor import SYSTEM
from tests.app.e2ekit import live  # noqa: F401
from tests.app.test_api import DA, PZ, point_in

W3C = r"^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d)?(\.\d+)?(Z|[+-]\d\d:\d\d)$"
_S = {"type": "string"}
_SN = {"type": ["string", "null"]}

# --- the spec's field tables as JSON schemas ------------------------------------------------
ERRORS = {"type": "array", "minItems": 1, "items": {
    "type": "object", "required": ["code", "description"], "additionalProperties": False,
    "properties": {"code": {"type": "integer", "minimum": 400, "maximum": 599},
                   "description": {"type": "string", "minLength": 1}}}}
DISCOVERY = {"type": "object", "required": ["changeset", "contact", "key_service", "endpoints"],
             "properties": {
                 "changeset": {"type": "string", "pattern": W3C}, "contact": _S, "key_service": _S,
                 "endpoints": {"type": "array", "minItems": 1, "items": {
                     "type": "object", "required": ["specification", "url", "changeset", "type",
                                                    "formats"],
                     "properties": {"specification": {"const": open311.SPEC_URL},
                                    "url": {"type": "string", "pattern": "^https?://"},
                                    "changeset": {"type": "string", "pattern": W3C},
                                    "type": {"enum": ["production", "test"]},
                                    "formats": {"type": "array", "items": {"enum": [
                                        "application/json", "text/xml"]}}}}}}}
SERVICES = {"type": "array", "minItems": 1, "items": {
    "type": "object",
    "required": ["service_code", "service_name", "description", "metadata", "type", "keywords",
                 "group"],
    "properties": {"service_code": {"type": "string", "minLength": 1}, "service_name": _S,
                   "description": _S, "metadata": {"type": "boolean"},
                   "type": {"enum": ["realtime", "batch", "blackbox"]}, "keywords": _S,
                   "group": _S}}}
DEFINITION = {"type": "object", "required": ["service_code", "attributes"], "properties": {
    "service_code": _S, "attributes": {"type": "array", "items": {
        "type": "object",
        "required": ["variable", "code", "datatype", "required", "order", "description"],
        "properties": {"variable": {"type": "boolean"}, "code": _S,
                       "datatype": {"enum": ["string", "number", "datetime", "text",
                                             "singlevaluelist", "multivaluelist"]},
                       "required": {"type": "boolean"}, "order": {"type": "integer"},
                       "description": _S, "values": {"type": "array"}}}}}}
POSTED = {"type": "array", "minItems": 1, "maxItems": 1, "items": {
    "type": "object", "anyOf": [{"required": ["service_request_id"]}, {"required": ["token"]}],
    "properties": {"service_request_id": _S, "token": _S, "service_notice": _SN,
                   "account_id": _SN}}}
REQUEST = {
    "type": "object",
    "required": ["service_request_id", "status", "service_code", "requested_datetime", "lat",
                 "long"],
    "properties": {
        "service_request_id": {"type": "string", "minLength": 1},
        "status": {"enum": ["open", "closed"]}, "status_notes": _SN, "service_name": _SN,
        "service_code": _S, "description": {"type": ["string", "null"], "maxLength": 4000},
        "agency_responsible": _SN, "service_notice": _SN,
        "requested_datetime": {"type": "string", "pattern": W3C},
        "updated_datetime": {"type": ["string", "null"], "pattern": W3C},
        "expected_datetime": {"type": ["string", "null"], "pattern": W3C},
        "address": _SN, "address_id": _SN, "zipcode": _SN,
        "lat": {"type": ["number", "null"], "minimum": -90, "maximum": 90},
        "long": {"type": ["number", "null"], "minimum": -180, "maximum": 180},
        "media_url": {"type": ["string", "null"], "pattern": "^(https?://|/)"}},
    "not": {"anyOf": [{"required": ["reporter"]}, {"required": ["email"]},
                      {"required": ["phone"]}, {"required": ["sources"]}]}}
REQUESTS = {"type": "array", "items": REQUEST}
TOKENS = {"type": "array", "minItems": 1, "items": {
    "type": "object", "required": ["token"], "properties": {"service_request_id": _SN,
                                                            "token": _S}}}


def ok(resp, schema: dict, status: int = 200):  # noqa: ANN001, ANN201
    """The JSON of ``resp`` after checking its status and validating it against ``schema``."""
    assert resp.status_code == status, resp.get_data(as_text=True)[:400]
    assert resp.headers["Content-Type"].startswith("application/json")
    body = resp.get_json()
    jsonschema.validate(body, schema)
    return body


def refused(resp, status: int) -> str:  # noqa: ANN001
    """The description of a spec error answer (JSON), after validating its format."""
    return ok(resp, ERRORS, status)[0]["description"]


def xml_of(resp, root: str, item: str | None = None) -> list[dict] | dict:  # noqa: ANN001
    """The XML answer parsed (ElementTree checks it is well-formed) and as dicts (xmltodict)."""
    assert resp.headers["Content-Type"].startswith("text/xml"), resp.headers["Content-Type"]
    data = resp.get_data()
    assert ET.fromstring(data).tag == root
    doc = xmltodict.parse(data)[root]
    if item is None:
        return doc
    got = (doc or {}).get(item, [])
    return got if isinstance(got, list) else [got]


def same(xml_row: dict, json_row: dict) -> None:
    """The XML row carries the JSON row's fields, value for value (XML text: None → empty)."""
    for k, v in json_row.items():
        if isinstance(v, list | dict):
            continue
        want = None if v in (None, "") else ("true" if v is True else "false" if v is False
                                             else str(v))
        assert xml_row.get(k) == want, (k, xml_row.get(k), v)


@pytest.fixture
def key(app_ctx) -> str:
    """An api_key of a city-wide client system (12345 热线平台)."""
    return open311.issue_key(app_ctx.redis, "hotline-12345", "CITY", app_ctx.city.centers)


def test_all_six_methods_in_json_and_xml_follow_the_spec(web, app_ctx, key):
    city = app_ctx.city
    c = web.test_client()                       # no session, no cookie: a client system
    # discovery
    d = ok(c.get("/open311/discovery.json"), DISCOVERY)
    assert d["endpoints"][0]["url"].endswith("/open311/v2")
    assert xml_of(c.get("/open311/v2/discovery.xml"), "discovery")["changeset"] == d["changeset"]
    # service list and definition
    svcs = ok(c.get("/open311/v2/services.json"), SERVICES)
    rows = xml_of(c.get("/open311/v2/services.xml"), "services", "service")
    assert len(rows) == len(svcs)
    same(rows[0], svcs[0])
    ok(c.get("/open311/v2/services/0108.json"), DEFINITION)
    assert xml_of(c.get("/open311/v2/services/0108.xml"), "service_definition")[
        "service_code"] == "0108"
    refused(c.get("/open311/v2/services/9999.json"), 404)
    err = xml_of(c.get("/open311/v2/services/9999.xml"), "errors", "error")
    assert err[0]["code"] == "404" and err[0]["description"]
    # POST: the api_key is the credential (no CSRF token, no session)
    lon, lat = point_in(city, PZ, 3)
    phone = "13812345678"
    form = {"api_key": key, "service_code": "0108", "lat": lat, "long": lon,
            "description": f"井盖缺失 <b>&amp; 联系 {phone}", "email": "a@example.cn",
            "media_url": "https://img.example.cn/1.jpg", "address_string": "潘州街道 人民路 3 号"}
    made = ok(c.post("/open311/v2/requests.json", data=form), POSTED, 201)[0]
    rid, tok = made["service_request_id"], made["token"]
    # GET request by token, then the request: JSON and XML carry the same fields
    assert ok(c.get(f"/open311/v2/tokens/{tok}.json"), TOKENS)[0]["service_request_id"] == rid
    assert xml_of(c.get(f"/open311/v2/tokens/{tok}.xml"), "service_requests", "request")[0][
        "service_request_id"] == rid
    refused(c.get("/open311/v2/tokens/nosuchtoken0.json"), 404)
    one = ok(c.get(f"/open311/v2/requests/{rid}.json"), REQUESTS)[0]
    assert (one["lat"], one["long"], one["status"]) == (lat, lon, "open")
    assert one["media_url"] == form["media_url"] and one["address"] == form["address_string"]
    assert "<b>&amp;" in one["description"] and phone not in one["description"]   # public: masked
    assert "a@example.cn" not in c.get(f"/open311/v2/requests/{rid}.json").get_data(as_text=True)
    same(xml_of(c.get(f"/open311/v2/requests/{rid}.xml"), "service_requests", "request")[0], one)
    # POST in XML, located by address only (the city's gazetteer), and by nothing known
    vil = city.villages[city.villages["town_code"] == DA].iloc[0]
    by_addr = c.post("/open311/v2/requests.xml", data={
        "api_key": key, "service_code": "0106", "address_string": f"{vil['name']} 村口"})
    assert by_addr.status_code == 201
    got = xml_of(by_addr, "service_requests", "request")[0]
    placed = ok(c.get(f"/open311/v2/requests/{got['service_request_id']}.json"), REQUESTS)[0]
    assert city.locate(placed["long"], placed["lat"]).village_code == vil["code"]
    nowhere = ok(c.post("/open311/v2/requests.json", data={
        "api_key": key, "service_code": "0106", "address_string": "某个不存在的地方"}), POSTED, 201)
    lost = ok(c.get(f"/open311/v2/requests/{nowhere[0]['service_request_id']}.json"), REQUESTS)[0]
    assert lost["lat"] is None and lost["address"] == "某个不存在的地方"
    inc = app_ctx.incidents.store.load(nowhere[0]["service_request_id"])
    assert inc.center == "CITY" and inc.town_code == ""           # routed to the city
    # refusals in the spec's format: no key, a wrong key, no place, too long, bad values
    assert "api_key" in refused(c.post("/open311/v2/requests.json", data={
        "service_code": "0108", "lat": lat, "long": lon}), 403)
    refused(c.post("/open311/v2/requests.json", data={**form, "api_key": "wrong"}), 403)
    assert "address_string" in refused(c.post("/open311/v2/requests.json", data={
        "api_key": key, "service_code": "0108"}), 400)
    assert "4000" in refused(c.post("/open311/v2/requests.json", data={
        **form, "description": "长" * 4001}), 400)
    refused(c.post("/open311/v2/requests.json", data={**form, "service_code": "9999"}), 404)
    refused(c.post("/open311/v2/requests.json", data={**form, "media_url": "javascript:x"}), 400)
    refused(c.post("/open311/v2/requests.json", data={**form, "lat": "north"}), 400)
    # a description over 4,000 characters written by another channel is served cut
    long_one = app_ctx.incidents.report(SYSTEM, "0108", *point_in(city, DA, 5),
                                        description="长" * 4100)
    assert len(ok(c.get(f"/open311/v2/requests/{long_one.id}.json"), REQUESTS)[0][
        "description"]) == 4000
    # jurisdiction_id: checked once configured
    app_ctx.settings.open311_jurisdiction = "gaozhou.gov.cn"
    ok(c.get("/open311/v2/services.json?jurisdiction_id=gaozhou.gov.cn"), SERVICES)
    refused(c.get("/open311/v2/services.json?jurisdiction_id=elsewhere"), 404)


def test_get_requests_filters(web, app_ctx):
    """service_request_id, service_code, status (comma lists), start_date/end_date, the 90-day
    window; malformed filters refused in the spec's format."""
    city, svc = app_ctx.city, app_ctx.incidents
    a = svc.report(SYSTEM, "0108", *point_in(city, PZ, 7), description="井盖")
    b = svc.report(SYSTEM, "0106", *point_in(city, DA, 7), description="违停")
    cc = svc.report(SYSTEM, "0101", *point_in(city, DA, 9), description="垃圾")
    c = web.test_client()

    def ids(q: str) -> set[str]:
        rows = ok(c.get(f"/open311/v2/requests.json{q}"), REQUESTS)
        xml_ids = {r["service_request_id"] for r in xml_of(
            c.get(f"/open311/v2/requests.xml{q}"), "service_requests", "request")}
        assert xml_ids == {r["service_request_id"] for r in rows}
        return {r["service_request_id"] for r in rows}

    task = svc.assign_task(SYSTEM, town_center_code(DA), "巡查河堤")   # 上情下达: no service request
    mine = {a.id, b.id, cc.id}
    assert ids("") >= mine and task.id not in ids("")
    refused(c.get(f"/open311/v2/requests/{task.id}.json"), 404)
    assert ids(f"?service_request_id={a.id},{b.id},E20000101000001") == {a.id, b.id}
    assert ids("?service_code=0108,0106") & mine == {a.id, b.id}
    assert ids("?status=open,closed") & mine == mine and ids("?status=closed") & mine == set()
    assert ids("?start_date=2000-01-01T00:00:00Z&end_date=2000-02-01T00:00:00Z") == set()
    assert ids("?start_date=2000-01-01T00:00:00Z") == set()         # 90 days from the start
    assert "90" in refused(c.get("/open311/v2/requests.json?start_date=2020-01-01T00:00:00Z"
                                 "&end_date=2021-01-01T00:00:00Z"), 400)
    refused(c.get("/open311/v2/requests.json?status=pending"), 400)
    refused(c.get("/open311/v2/requests.json?start_date=yesterday"), 400)


def test_keys_scope_and_protected_reads(web, app_ctx, redis_service, monkeypatch, demo_city_dir):
    """Keys issued per client system by ``onemap open311 keys`` and scoped to a center; with
    public reads off a read needs a key (or a login); a revoked key is refused."""
    from app.cli import main

    monkeypatch.setenv("ONEMAP_REDIS_URL", redis_service.url)
    monkeypatch.setenv("ONEMAP_CITY_DIR", str(demo_city_dir))
    cli = CliRunner()
    out = cli.invoke(main, ["open311", "keys", "issue", "pz-app", "--center", town_center_code(PZ)])
    assert out.exit_code == 0, out.output
    town_key = out.output.strip().splitlines()[-1]
    assert cli.invoke(main, ["open311", "keys", "issue", "x", "--center", "NOPE"]).exit_code != 0
    city, svc = app_ctx.city, app_ctx.incidents
    here = svc.report(SYSTEM, "0108", *point_in(city, PZ, 2), description="本镇")
    there = svc.report(SYSTEM, "0108", *point_in(city, DA, 2), description="外镇")
    app_ctx.settings.open311_public_reads = False
    c = web.test_client()
    refused(c.get("/open311/v2/requests.json"), 401)
    assert xml_of(c.get("/open311/v2/services.xml"), "errors", "error")[0]["code"] == "401"
    ok(c.get("/open311/discovery.json"), DISCOVERY)               # always public
    seen = {r["service_request_id"] for r in ok(
        c.get(f"/open311/v2/requests.json?api_key={town_key}"), REQUESTS)}
    assert here.id in seen and there.id not in seen              # the key's center's scope
    refused(c.get(f"/open311/v2/requests/{there.id}.json?api_key={town_key}"), 403)
    made = ok(c.post(f"/open311/v2/requests.json?api_key={town_key}", data={
        "service_code": "0108", "lat": point_in(city, PZ, 4)[1], "long": point_in(city, PZ, 4)[0]}),
        POSTED, 201)
    assert svc.store.load(made[0]["service_request_id"]).reporter == "open311:pz-app"
    listed = cli.invoke(main, ["open311", "keys", "list"])
    assert "pz-app" in listed.output and town_center_code(PZ) in listed.output
    assert town_key not in listed.output                          # never shown again
    assert cli.invoke(main, ["open311", "keys", "revoke", "pz-app"]).exit_code == 0
    refused(c.get(f"/open311/v2/requests.json?api_key={town_key}"), 403)


def test_a_real_open311_client_drives_onemap(live, app_ctx, key):  # noqa: F811
    """PyPI's ``civicbot`` Open311 client (unpatched; its politeness delay set to 0 through its
    own ``RateLimiter``) over real HTTP: services → service definition → POST (with the
    api_key) → GET by token → GET request → GET requests. Neither client has a discovery call:
    plain HTTP, as the spec writes it. Then PyPI's ``georeport`` reads in JSON and XML."""
    base = f"{live}/open311/v2"
    disc = requests.get(f"{live}/open311/discovery.json", timeout=10).json()
    jsonschema.validate(disc, DISCOVERY)
    assert disc["endpoints"][0]["url"] == base
    ep = Endpoint(id="onemap", name="OneMap", base_url=disc["endpoints"][0]["url"], write=True)
    cb = Open311Client(ep, HttpTransport(timeout=10, rate_limiter=RateLimiter(min_interval=0)))
    jsonschema.validate(cb.list_services(), SERVICES)
    jsonschema.validate(cb.get_service_definition("0108"), DEFINITION)
    lon, lat = point_in(app_ctx.city, PZ, 11)
    sent = cb.create_request("0108", dry_run=False, confirm="SEND", api_key=key,
                             validate_remote=True, lat=lat, lng=lon, description="井盖松动",
                             address_string="潘州街道", media_url="https://img.example.cn/2.jpg")
    jsonschema.validate(sent.response, POSTED)
    tok = sent.response[0]["token"]
    by_token = cb.get_token(tok)
    jsonschema.validate(by_token, TOKENS)
    rid = by_token[0]["service_request_id"]
    one = cb.get_request(rid)
    jsonschema.validate([one], REQUESTS)
    assert (one["service_request_id"], one["lat"], one["long"]) == (rid, lat, lon)
    assert one["media_url"] == "https://img.example.cn/2.jpg"
    assert rid in {r["service_request_id"] for r in cb.list_requests(
        service_code="0108,0106", status="open", service_request_ids=None)}
    for fmt in ("json", "xml"):
        client = GeoReport(base, api_key=key, output_format=fmt)
        svcs = client.get_service_list()
        assert "0108" in {s["service_code"] for s in svcs}
        assert client.get_service_definition("0108")["service_code"] == "0108"
        listed = client.get_service_requests(service_code="0108,0106", status="open")
        listed = listed if isinstance(listed, list) else [listed]
        assert rid in {r["service_request_id"] for r in listed}
        got = client.get_service_request(rid)
        assert got["service_request_id"] == rid and got["status"] == "open"
        assert float(got["lat"]) == lat and got["address"] == "潘州街道"
