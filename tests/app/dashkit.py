"""Crafted Dash callback requests, built the way Dash 4's renderer builds them (issue 19's
role × action matrix and the security findings): ``POST /<screen>/_dash-update-component`` with
``output``, ``outputs``, ``inputs``, ``state`` and ``changedPropIds``, the callback found by its
declared dependencies (``/<screen>/_dash-dependencies``) so a new input needs no change here.

``values`` are keyed ``"<id>.<property>"`` (the id as the dependencies spell it: a plain id, or
a pattern id's JSON such as ``{"action":["ALL"],"type":"act"}``); a wildcard input's value is
the list of ``{"id", "property", "value"}`` the page would send for it (``wild``).
"""

from __future__ import annotations

import json


def _id(text: str) -> str | dict:
    return json.loads(text) if text.startswith("{") else text


def _wild(text: str) -> bool:
    return text.startswith("{") and '["ALL"]' in text


def wild(pattern: dict, prop: str, items: list[tuple[dict, object]]) -> tuple[str, list[dict]]:
    """(the dependency key of a wildcard ``pattern``.``prop``, the concrete list for it)."""
    key = json.dumps(pattern, sort_keys=True, separators=(",", ":")) + "." + prop
    return key, [{"id": i, "property": prop, "value": v} for i, v in items]


class DashPage:
    """One screen's callbacks for one logged-in client (Flask test client or ``requests``)."""

    def __init__(self, client, screen: str, csrf: str, deps: list[dict] | None = None) -> None:
        self.client, self.screen, self.csrf = client, screen, csrf
        self.deps = deps
        if deps is None:
            r = client.get(f"/{screen}/_dash-dependencies")
            self.deps = r.json() if callable(r.json) else r.json

    def dep(self, needle: str) -> dict:
        """The callback whose output spec contains ``needle`` (first one); ``in:<id>.<prop>``:
        the callback with that input (for outputs declared ``allow_duplicate``)."""
        if needle.startswith("in:"):
            want = needle[3:]
            return next(d for d in self.deps
                        if any(f"{i['id']}.{i['property']}" == want for i in d["inputs"]))
        return next(d for d in self.deps if needle in d["output"])

    def body(self, needle: str, values: dict, changed: list[str],
             outputs: dict | None = None) -> dict:
        dep = self.dep(needle)
        spec = dep["output"]
        multi = spec.startswith("..")
        outs = []
        for part in (spec.strip(".").split("...") if multi else [spec]):
            cid, prop = part.rsplit(".", 1)
            outs.append((outputs or {}).get(part, []) if _wild(cid)
                        else {"id": _id(cid), "property": prop})

        def fill(items: list[dict]) -> list:
            got = []
            for it in items:
                key = f"{it['id']}.{it['property']}"
                got.append(values.get(key, []) if _wild(it["id"])
                           else {"id": _id(it["id"]), "property": it["property"],
                                 "value": values.get(key)})
            return got

        return {"output": spec, "outputs": outs if multi else outs[0],
                "inputs": fill(dep["inputs"]), "state": fill(dep.get("state", [])),
                "changedPropIds": changed}

    def call(self, needle: str, values: dict, changed: list[str], outputs: dict | None = None):
        """POST the request; the response (status 200/204/4xx)."""
        body = self.body(needle, values, changed, outputs)
        return self.client.post(f"/{self.screen}/_dash-update-component", json=body,
                                headers={"X-CSRFToken": self.csrf})


def response_of(resp) -> dict:
    """The ``response`` part of a callback's JSON answer ({} for 204)."""
    if resp.status_code == 204:
        return {}
    data = resp.json() if callable(resp.json) else resp.json
    return data.get("response", {})
