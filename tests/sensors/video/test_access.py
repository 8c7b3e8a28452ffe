"""Grants, the 视频调阅 log and stream state into device health (issue 23, V27; S5)."""

from __future__ import annotations

import json

from sensors import keys as skeys
from sensors.video import access
from sensors.video import keys as vkeys


def test_a_grant_is_for_its_camera_and_session_only(redis_client) -> None:
    tok = access.issue(redis_client, user="u", role="town_operator", center="T1", sid="s1",
                       camera="cam-1", case="E2026120700001", ttl_s=30)
    assert access.redeem(redis_client, tok, "cam-1", "s1")[1] == ""
    assert access.redeem(redis_client, tok, "cam-2", "s1")[1] == "camera"
    assert access.redeem(redis_client, tok, "cam-1", "s2")[1] == "session"
    assert access.redeem(redis_client, tok, "cam-1", None)[1] == "session"
    assert access.redeem(redis_client, "nope", "cam-1", "s1") == (None, "expired")
    assert 0 < redis_client.pttl(vkeys.token(tok)) <= 30_000


def test_stream_state_feeds_device_health(redis_client) -> None:
    access.record_state(redis_client, "cam-9", "offline", "连接被拒绝: Connection refused")
    assert redis_client.hget(skeys.DEV_STATE, "cam-9") == "offline"
    assert redis_client.hget(skeys.DEV_LWT, "cam-9")
    assert redis_client.hget(skeys.dev_last("cam-9"), "online") == "0"
    assert access.stream_states(redis_client)["cam-9"]["reason"].startswith("连接被拒绝")
    access.record_state(redis_client, "cam-9", "live")
    assert redis_client.hget(skeys.DEV_STATE, "cam-9") == "normal"
    assert redis_client.hget(skeys.DEV_LWT, "cam-9") is None
    assert redis_client.zscore(skeys.DEV_SEEN, "cam-9")
    assert json.loads(redis_client.hget(vkeys.STATE, "cam-9"))["state"] == "live"


def test_the_quota_counter(redis_client) -> None:
    access.began(redis_client, "u")
    access.began(redis_client, "u")
    assert access.active(redis_client, "u") == 2
    access.ended(redis_client, "u")
    access.ended(redis_client, "u")
    assert access.active(redis_client, "u") == 0 and not redis_client.hexists(vkeys.ACTIVE, "u")
