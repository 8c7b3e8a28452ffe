"""The web process: stateless workers that share sessions through Redis."""

from __future__ import annotations

from app.config import Settings
from app.context import AppContext
from app.server import create_server


def test_two_web_workers_share_the_session_key(redis_client, redis_service, demo_city_dir, tmp_path):
    """Without ONEMAP_SECRET_KEY, every worker signs sessions with one key kept in the data dir
    (app.secret_files, never Redis), so a login on one worker is valid on the next one behind
    the load balancer."""
    settings = Settings(data_dir=tmp_path, city_dir=demo_city_dir)
    a = create_server(AppContext(settings, redis_service.url))
    b = create_server(AppContext(settings, redis_service.url))
    assert a.config["SECRET_KEY"] == b.config["SECRET_KEY"]
    assert len(a.config["SECRET_KEY"]) == 64


def test_configured_key_wins(redis_client, redis_service, demo_city_dir, tmp_path):
    settings = Settings(data_dir=tmp_path, city_dir=demo_city_dir, secret_key="k" * 64)
    assert create_server(AppContext(settings, redis_service.url)).config["SECRET_KEY"] == "k" * 64


def test_healthz_answers(redis_client, redis_service, demo_city_dir, tmp_path):
    settings = Settings(data_dir=tmp_path, city_dir=demo_city_dir)
    client = create_server(AppContext(settings, redis_service.url)).test_client()
    assert client.get("/healthz").get_json() == {"ok": True}


def test_routing_suggestions_carry_cameras_and_resources(redis_client, redis_service, demo_city,
                                                         demo_devices, tmp_path):
    """E30: the operator confirms a suggestion that names the line department, the cameras that
    can see the spot and the nearest emergency resources (all JSON-serialisable)."""
    import json

    from incidents.actor import Actor

    ctx = AppContext(Settings(data_dir=tmp_path), redis_service.url)
    ctx.__dict__["city"], ctx.__dict__["devices"] = demo_city, demo_devices
    op = Actor("op", "city_operator", "CITY")
    cell = demo_city.cells[demo_city.cells["town_code"] == "440981001"].iloc[5]
    p = cell.geometry.representative_point()
    inc = ctx.incidents.report(op, "0301", p.x, p.y, description="积水")
    suggestion = ctx.incidents.suggest_routing(inc.id, op)
    assert [d["center"] for d in suggestion["departments"]] == ["DSL"]
    assert suggestion["resources"], "a town's shelters and rescue team lie within 2 km"
    assert all(r["distance_m"] <= 2000 for r in suggestion["resources"])
    json.dumps(suggestion)


_WITHOUT_AUTH = """
import importlib.abc, sys

class NoAuth(importlib.abc.MetaPathFinder):
    '''app.auth as if deleted or renamed: its import finds nothing.'''

    def find_spec(self, name, path=None, target=None):
        if name == "app.auth":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

if sys.argv[1] == "without":
    sys.meta_path.insert(0, NoAuth())
from pathlib import Path
from app.config import Settings
from app.context import AppContext
try:
    from app.server import create_server
except ModuleNotFoundError as exc:       # the server module itself needs the gate
    print("REFUSED", exc.name, "at import")
    sys.exit(3)
try:
    server = create_server(AppContext(Settings(data_dir=Path(sys.argv[4]),
                                               city_dir=Path(sys.argv[3])), sys.argv[2]))
except ModuleNotFoundError as exc:
    print("REFUSED", exc.name, "at start")
    sys.exit(3)
client = server.test_client()
print("STARTED", client.get("/wall/").status_code, client.get("/api/me").status_code)
"""


def test_without_the_auth_module_the_app_does_not_start(redis_service, demo_city_dir, tmp_path):
    """Issue 14, fail closed: with ``app.auth`` missing (deleted, renamed) importing the server
    raises ModuleNotFoundError; it never starts without the login gate. The same script with the
    module present starts and its gate answers (302 to /login, 401)."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]

    def run(mode: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", _WITHOUT_AUTH, mode, redis_service.url,
                               str(demo_city_dir), str(tmp_path)],
                              cwd=root, capture_output=True, text=True, timeout=300, check=False)

    gone = run("without")
    assert gone.returncode == 3, gone.stdout + gone.stderr
    # the server module imports the gate itself (not incidentally through another module)
    assert gone.stdout.strip() == "REFUSED app.auth at import"
    present = run("with")
    assert present.returncode == 0, present.stdout + present.stderr
    assert present.stdout.split() == ["STARTED", "302", "401"]
