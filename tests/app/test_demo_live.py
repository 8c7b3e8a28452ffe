"""`onemap demo` serves the screens as `onemap web` does (issue 15, "Live under load"): uvicorn
with `/events` push beside the Flask app, the quiet access log, stopped with the demo's other
workers by Ctrl-C (exit 0). Real processes: the demo with its private redis-server and
mosquitto in a private data dir, a plain HTTP client on loopback."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

from app.live.client import Stream, login
from app.services import free_port


@pytest.mark.slow
def test_the_demo_pushes_and_stops_cleanly_on_ctrl_c(tmp_path, demo_city_dir):
    port = free_port()
    env = {**os.environ, "ONEMAP_DATA_DIR": str(tmp_path / "var"),
           "ONEMAP_CITY_DIR": str(demo_city_dir), "ONEMAP_PORT": str(port)}
    for k in ("ONEMAP_REDIS_URL", "ONEMAP_MQTT_URL"):
        env.pop(k, None)
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "demo", "--no-simulate"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)       # its own group, as a terminal gives it
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True).start()
    seen: list[str] = []
    stream = None
    try:
        deadline = time.monotonic() + 180
        while not any("Ctrl-C stops everything" in x for x in seen):
            seen.append(lines.get(timeout=max(0.1, deadline - time.monotonic())))
        base = f"http://127.0.0.1:{port}"
        assert any(f"{base}/console/" in x for x in seen)
        ops = next(x.split() for x in seen if re.match(r"\s+ops\s+\S+\s+市值班员", x))
        with urllib.request.urlopen(f"{base}/healthz", timeout=10) as resp:
            assert resp.status == 200
        stream = Stream("127.0.0.1", port, login(base, "ops", ops[1]), "console")
        assert stream.status == 200                       # push, not the WSGI server's 204
        hello = stream.next("hello", timeout=20)
        assert hello.kind == "hello"
        os.killpg(proc.pid, signal.SIGINT)                # what Ctrl-C does
        assert proc.wait(60) == 0
        assert stream.closed.wait(10)                     # the stream ended with the demo
    finally:
        if stream is not None:
            stream.close()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    rest = []
    while True:
        try:
            rest.append(lines.get(timeout=5))
        except queue.Empty:
            break
        if rest[-1].strip() == "stopped.":
            break
    out = "".join(seen + rest)
    assert "stopped." in out and "Uvicorn running" in out
    assert '"POST /login HTTP/1.1" 302' in out            # access lines are kept …
    for quiet in ("GET /healthz", "GET /events"):        # … but not these (app.live.logs)
        assert quiet not in out, quiet
    for bad in ("Traceback", "unreachable", "Error"):
        assert bad not in out, out[-3000:]
