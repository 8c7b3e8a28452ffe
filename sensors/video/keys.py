"""Redis keys of the video gateway (issue 23). The device keys it also writes (``om:dev:state``,
``om:dev:last:<id>``, ``om:dev:lwt``, ``om:dev:seen``) are ``sensors.keys``'s.

| key | type | what |
|---|---|---|
| ``om:video:tok:<token>`` | string (JSON), TTL | a playback URL's grant: user, session, camera, case |
| ``om:video:views`` | stream | 视频调阅 log: start / end / denied (who, camera, case, when) |
| ``om:video:active`` | hash | user id → open views (the per-role quota) |
| ``om:video:state`` | hash | camera id → JSON {state, reason, ts} from its stream (device health) |
| ``om:video:gw`` | string (JSON), TTL | the gateway's status (upstreams, viewers), for ops and tests |
| ``om:video:clip:<incident>`` | string (JSON) | the case's video clip: camera, path, seconds, state (recording / stored / failed), reason |
"""

from grid import keyspace as _ks

# spelled at each access under the current city (``om:{<city>}:video:…`` on a tagged keyspace:
# Redis Cluster, several cities; grid/keyspace.py)
_CITY_NAMES = {"TOKEN": "video:tok:", "VIEWS": "video:views", "ACTIVE": "video:active",
               "STATE": "video:state", "GATEWAY": "video:gw", "CLIP": "video:clip:"}
__getattr__ = _ks.lazy_names(globals(), _CITY_NAMES)


def token(t: str) -> str:
    return _ks.city() + _CITY_NAMES["TOKEN"] + t


def clip(incident: str) -> str:
    return _ks.city() + _CITY_NAMES["CLIP"] + incident
