"""Accounts (账号): a user store in Redis with argon2 password hashes; each user is an Actor.

A user has a role (``incidents.actor.ROLES``), a center (``CITY``, ``T<town>``, ``D<dept>``) and,
for grid workers, a cell. ``epoch`` is bumped on disable/reset so every open session of the
user ends at its next request (a session record, ``app.sessions``, keeps the epoch of its login;
disable and reset also delete the user's session records).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import asdict, dataclass

import pyotp
import redis
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from app import keys, security
from app.sessions import SessionStore
from grid.centers import kind_of
from incidents.actor import ROLE_NAMES, ROLES, Actor
from incidents.roles import Role, spec

_HASHER = PasswordHasher()
_DUMMY_HASH = _HASHER.hash("onemap-timing-equaliser")

MIN_PASSWORD = 10
"""Shortest accepted password (SEC11 口令复杂度; 等保 asks for length and no reuse)."""
PASSWORD_HISTORY = 5
"""A new password may not be any of the account's last this many (the current one included)."""

TOTP_DIGITS = 6
TOTP_STEP_S = 30
TOTP_ISSUER = "OneMap 一网统管"
"""What an authenticator app shows beside the account (``totp_uri``)."""
# Use a TOTP time step once: only a step later than the last used one is accepted (replay).
_TOTP_USE_LUA = """
local last = tonumber(redis.call('HGET', KEYS[1], 'totp_step') or '-1')
if last >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'totp_step', ARGV[1])
return 1
"""


def totp_uri(user_id: str, secret: str) -> str:
    """The ``otpauth://`` URI an authenticator app enrols from (typed in or as a QR code)."""
    return pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_STEP_S).provisioning_uri(
        name=user_id, issuer_name=TOTP_ISSUER)


class UserError(ValueError):
    """A bad account request (unknown role, center that does not fit the role, duplicate...)."""


@dataclass(frozen=True)
class User:
    """One account (no password hash: that never leaves this module)."""

    user_id: str
    name: str
    role: str
    center: str
    cell: str | None = None
    disabled: bool = False
    epoch: int = 0
    city: str = ""      # several cities in one deployment: its city's tag, "*" the prefecture
                        # (incidents/cities.py; issue 20); "" the deployment's own city

    @property
    def actor(self) -> Actor:
        """The subject of every scope check for this user."""
        return Actor(self.user_id, self.role, self.center, self.name, self.cell,  # type: ignore[arg-type]
                     city=self.city)

    def to_dict(self) -> dict:
        return asdict(self)


def check_password(user_id: str, password: str) -> None:
    """口令规则: at least ``MIN_PASSWORD`` characters, not the user id (raises UserError).
    The history rule needs the stored hashes: ``UserStore`` checks it."""
    if len(password) < MIN_PASSWORD:
        raise UserError(f"密码至少 {MIN_PASSWORD} 个字符 (password: at least {MIN_PASSWORD} characters)")
    if password.strip().lower() == user_id.strip().lower():
        raise UserError("密码不能与账号相同 (password: must not be the user id)")


def _in_history(hashes: list[str], password: str) -> bool:
    for h in hashes:
        try:
            if _HASHER.verify(h, password):
                return True
        except (VerificationError, InvalidHashError):
            continue
    return False


def _check(role: str, center: str, cell: str | None, city=None) -> None:
    """An account fits its role's row (``incidents.roles``): a known role, at a center of a kind
    the role sits at (CITY, T<town>, D<dept>), a grid worker with its cell."""
    if role not in ROLES:
        raise UserError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    kinds = spec(role).centers
    kind = kind_of(center)
    if kind not in kinds:
        where = "、".join({"city": "CITY", "town": "T<town code>", "dept": "D<dept code>"}[k]
                          for k in sorted(kinds))
        raise UserError(f"角色 {ROLE_NAMES[role]} 的中心应为 {where}，不是 {center} "
                        f"(role {role} belongs to a center {where}, not {center})")
    if role == Role.GRID_WORKER and not cell:
        raise UserError("网格员须有所属网格 (a grid worker needs center T<town code> and a cell)")
    if role == Role.RESPONDER and not cell:
        raise UserError("救援队员须有所属队伍：--cell 为队伍的资源编号 (a responder needs its team's "
                        "resource id as --cell)")
    if city is not None and center not in city.centers:
        raise UserError(f"unknown center {center}")


class UserStore:
    """用户库: add, disable, reset, list and verify accounts in Redis."""

    def __init__(self, r: redis.Redis, city=None) -> None:
        self.r = r
        self.city = city  # optional: validates center codes when given

    def add(self, user_id: str, password: str, role: str, center: str, name: str = "",
            cell: str | None = None, *, replace: bool = False, city: str = "") -> User:
        """Create an account (raises UserError if it exists, unless ``replace``). The password
        rules apply (``check_password``); ``replace`` (scripts re-keying whole accounts: the
        demo, benches) keeps the password history but does not enforce it: ``reset`` does."""
        if not user_id or ":" in user_id or len(user_id) > 64:
            raise UserError("user id: 1-64 characters, no ':'")
        check_password(user_id, password)
        _check(role, center, cell, self.city)
        key = keys.user(user_id)
        if not replace and self.r.exists(key):
            raise UserError(f"user {user_id} exists")
        epoch = int(self.r.hget(key, "epoch") or 0) + 1 if replace else 0
        history = self._new_history(user_id, password, reuse_ok=True) if replace else []
        pw = _HASHER.hash(password)
        mapping = {"name": name or user_id, "role": role, "center": center, "cell": cell or "",
                   "pw": pw, "disabled": "0", "epoch": str(epoch),
                   "created": str(int(time.time())), "history": json.dumps([pw, *history])}
        if city:        # several cities (issue 20): the account's city
            mapping["city"] = city
        pipe = self.r.pipeline(transaction=True)
        pipe.delete(key)
        pipe.hset(key, mapping=mapping)
        pipe.sadd(keys.USERS, user_id)
        pipe.execute()
        security.audit(self.r, "user_replaced" if replace else "user_added", user=user_id, role=role,
                       center=center)
        return self.get(user_id)  # type: ignore[return-value]

    def get(self, user_id: str) -> User | None:
        """The account or None."""
        h = self.r.hgetall(keys.user(user_id))
        if not h:
            return None
        return User(user_id, h.get("name", user_id), h["role"], h["center"], h.get("cell") or None,
                    h.get("disabled") == "1", int(h.get("epoch", 0)), h.get("city", ""))

    def verify(self, user_id: str, password: str) -> User | None:
        """The user if the password matches and the account is enabled, else None.

        Unknown users still cost one hash check, so timing does not reveal which ids exist.
        """
        h = self.r.hgetall(keys.user(user_id)) if user_id else {}
        try:
            _HASHER.verify(h.get("pw") or _DUMMY_HASH, password)
        except (VerificationError, InvalidHashError):
            return None
        if not h or h.get("disabled") == "1":
            return None
        if _HASHER.check_needs_rehash(h["pw"]):
            self.r.hset(keys.user(user_id), "pw", _HASHER.hash(password))
        return self.get(user_id)

    def set_disabled(self, user_id: str, disabled: bool = True) -> User:
        """停用/启用: (dis)able an account; ends its open sessions."""
        self._require(user_id)
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(keys.user(user_id), "disabled", "1" if disabled else "0")
        pipe.hincrby(keys.user(user_id), "epoch", 1)
        pipe.execute()
        if disabled:
            self.revoke_tokens(user_id)
            SessionStore(self.r).revoke_user(user_id)
        security.audit(self.r, "user_disabled" if disabled else "user_enabled", user=user_id)
        return self.get(user_id)  # type: ignore[return-value]

    def reset(self, user_id: str, password: str | None = None) -> str:
        """重置密码: set a new password (generated when None); ends open sessions. Returns it."""
        self._require(user_id)
        password = password or secrets.token_urlsafe(12)
        check_password(user_id, password)
        history = self._new_history(user_id, password)
        pw = _HASHER.hash(password)
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(keys.user(user_id), mapping={"pw": pw, "history": json.dumps([pw, *history])})
        pipe.hincrby(keys.user(user_id), "epoch", 1)
        pipe.execute()
        self.revoke_tokens(user_id)
        SessionStore(self.r).revoke_user(user_id)
        security.audit(self.r, "password_reset", user=user_id)
        return password

    def issue_token(self, user_id: str) -> str:
        """接口令牌: a bearer token for another system acting as this user (shown once; only
        its SHA-256 is stored). Ends when the user is disabled or reset, or on ``revoke_tokens``."""
        self._require(user_id)
        token = "om_" + secrets.token_urlsafe(32)
        h = hashlib.sha256(token.encode()).hexdigest()
        pipe = self.r.pipeline(transaction=True)
        pipe.set(keys.api_token(h), user_id)
        pipe.sadd(keys.user_tokens(user_id), h)
        pipe.execute()
        security.audit(self.r, "token_issued", user=user_id, target=h[:12])
        return token

    def user_for_token(self, token: str) -> User | None:
        """The enabled user a bearer token belongs to, or None."""
        if not token.startswith("om_") or len(token) > 100:
            return None
        uid = self.r.get(keys.api_token(hashlib.sha256(token.encode()).hexdigest()))
        u = self.get(uid) if uid else None
        return None if u is None or u.disabled else u

    def revoke_tokens(self, user_id: str) -> int:
        """Revoke every API token of a user; returns how many."""
        hashes = self.r.smembers(keys.user_tokens(user_id))
        pipe = self.r.pipeline(transaction=True)
        for h in hashes:
            pipe.delete(keys.api_token(h))
        pipe.delete(keys.user_tokens(user_id))
        pipe.execute()
        return len(hashes)

    def revoke_sessions(self, user_id: str, by: str = "") -> int:
        """注销全部会话: end every login session of a user (the account stays usable; API
        tokens are ``revoke_tokens``). Returns how many were live; audited."""
        self._require(user_id)
        n = SessionStore(self.r).revoke_user(user_id)
        security.audit(self.r, "sessions_revoked", user=by, target=user_id, reason=f"{n} session(s)")
        return n

    # --- TOTP second factor (双因素认证, SEC11) --------------------------------------------------
    def enable_totp(self, user_id: str) -> str:
        """启用双因素: a new TOTP secret (RFC 6238, 30 s, 6 digits) for the account, replacing any
        earlier one; returns it (shown once, as ``totp_uri``). Audited."""
        self._require(user_id)
        secret = pyotp.random_base32()
        self.r.hset(keys.user(user_id), mapping={"totp": secret, "totp_step": "-1"})
        security.audit(self.r, "totp_enabled", user=user_id)
        return secret

    def disable_totp(self, user_id: str) -> None:
        """停用双因素: forget the account's TOTP secret. Audited."""
        self._require(user_id)
        self.r.hdel(keys.user(user_id), "totp", "totp_step")
        security.audit(self.r, "totp_disabled", user=user_id)

    def totp_enrolled(self, user_id: str) -> bool:
        return bool(self.r.hget(keys.user(user_id), "totp"))

    def check_totp(self, user_id: str, code: str, now: float) -> bool:
        """Is ``code`` the account's TOTP code at ``now`` (one step of clock drift either way)
        and of a later time step than the last code it used? A code is good once: the same
        code replayed within its window is refused (RFC 6238 §5.2), atomically (two logins
        racing with one code: one wins)."""
        secret = self.r.hget(keys.user(user_id), "totp")
        code = code.strip()
        if not secret or len(code) != TOTP_DIGITS or not code.isdigit():
            return False
        totp = pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_STEP_S)
        step = int(now) // TOTP_STEP_S
        for k in (0, -1, 1):
            if hmac.compare_digest(totp.generate_otp(step + k), code):
                return bool(self.r.register_script(_TOTP_USE_LUA)(
                    keys=[keys.user(user_id)], args=[step + k]))
        return False

    def list(self) -> list[User]:
        """Every account, sorted by id."""
        ids = sorted(self.r.smembers(keys.USERS))
        return [u for u in (self.get(i) for i in ids) if u is not None]

    def _new_history(self, user_id: str, password: str, reuse_ok: bool = False) -> list[str]:
        """The hashes a new password joins (the last ``PASSWORD_HISTORY - 1``); raises UserError
        when ``password`` is one of the last ``PASSWORD_HISTORY``."""
        h = self.r.hmget(keys.user(user_id), "pw", "history")
        hashes = json.loads(h[1]) if h[1] else ([h[0]] if h[0] else [])
        hashes = hashes[:PASSWORD_HISTORY]
        if not reuse_ok and _in_history(hashes, password):
            raise UserError(f"不能重复使用最近 {PASSWORD_HISTORY} 次的密码 "
                            f"(password: must not be one of the last {PASSWORD_HISTORY})")
        return hashes[:PASSWORD_HISTORY - 1]

    def _require(self, user_id: str) -> None:
        if not self.r.exists(keys.user(user_id)):
            raise UserError(f"no user {user_id}")


# --- demo accounts ----------------------------------------------------------------------------------
def _pick_town(city, *, name_part: str | None = None, kind: str | None = None) -> tuple[str, str]:
    towns = city.towns.sort_values("code")
    if name_part is not None:
        hit = towns[towns["name"].str.contains(name_part)]
        if len(hit):
            return str(hit.iloc[0]["code"]), str(hit.iloc[0]["name"])
    if kind is not None:
        hit = towns[towns["kind"] == kind]
        if len(hit):
            return str(hit.iloc[0]["code"]), str(hit.iloc[0]["name"])
    return str(towns.iloc[0]["code"]), str(towns.iloc[0]["name"])


def _first_cell(city, town_code: str) -> tuple[str, str, str]:
    cells = city.cells[city.cells["town_code"] == town_code].sort_values("code")
    row = cells.iloc[0]
    return str(row["code"]), str(row["worker_id"]), str(row.get("worker_name", "") or "")


def demo_accounts(city) -> list[dict]:
    """The demo accounts (one per role; two towns, three departments, two grid workers).

    Town operators: 潘州街道 (a street of the city proper) and the first rural town (镇);
    departments: 城管 (DCG), 水利 (DSL) and 应急 (DYJ, so that a 追加派遣 to 应急 can be worked
    through with the printed accounts); grid workers: the workers of the first cell of each of
    those two towns (their user id is the cell's worker id, ``W<cell code>``); a 救援队员 of
    the street's demo rescue team (``res-team-<street>``, issue 17).
    """
    street, street_name = _pick_town(city, name_part="潘州", kind="street")
    town, town_name = _pick_town(city, kind="town")
    cell1, w1, wn1 = _first_cell(city, street)
    cell2, w2, wn2 = _first_cell(city, town)
    return [
        dict(user_id="commander", role="city_commander", center="CITY", name="市指挥长"),
        dict(user_id="ops", role="city_operator", center="CITY", name="市值班员"),
        dict(user_id="panzhou", role="town_operator", center=f"T{street}",
             name=f"{street_name}值班员"),
        dict(user_id="town", role="town_operator", center=f"T{town}", name=f"{town_name}值班员"),
        dict(user_id="chengguan", role="dept_operator", center="DCG", name="城管值班员"),
        dict(user_id="shuili", role="dept_operator", center="DSL", name="水利值班员"),
        dict(user_id="yingji", role="dept_operator", center="DYJ", name="应急值班员"),
        dict(user_id="supervisor", role="supervisor", center="CITY", name="监督核查员"),
        dict(user_id="supervisor_pz", role="supervisor", center=f"T{street}",
             name=f"{street_name}核查员"),
        dict(user_id=w1, role="grid_worker", center=f"T{street}", cell=cell1,
             name=wn1 or f"{street_name}网格员"),
        dict(user_id=w2, role="grid_worker", center=f"T{town}", cell=cell2,
             name=wn2 or f"{town_name}网格员"),
        dict(user_id="team_pz", role="responder", center=f"T{street}", cell=f"res-team-{street}",
             name=f"{street_name}应急救援队队员"),
        dict(user_id="wall", role="wall_viewer", center="CITY", name="大屏"),
        dict(user_id="admin", role="admin", center="CITY", name="管理员"),
    ]


def ensure_demo_users(r: redis.Redis, city, password: str | None = None,
                      remembered: dict[str, str] | None = None) -> list[dict]:
    """Create (or re-key) the demo accounts; returns them with their passwords, to print.

    ``password``: one password for all (tests); None generates one per account, so a demo
    started on a reachable address never carries a guessable password. ``remembered``: the
    passwords an earlier start printed (user → password): an account whose password still
    works keeps it, so restarting the demo logs nobody out and the printed table stays true.
    """
    store = UserStore(r, city)
    out = []
    for acc in demo_accounts(city):
        kept = (remembered or {}).get(acc["user_id"]) if password is None else None
        if kept and store.verify(acc["user_id"], kept) is not None:
            out.append(dict(acc, user=acc["user_id"], password=kept, role_name=ROLE_NAMES[acc["role"]]))
            continue
        pw = password or secrets.token_urlsafe(9)
        store.add(acc["user_id"], pw, acc["role"], acc["center"], acc["name"], acc.get("cell"),
                  replace=True)
        out.append(dict(acc, user=acc["user_id"], password=pw, role_name=ROLE_NAMES[acc["role"]]))
    return out


def format_accounts(accounts: list[dict]) -> str:
    """A table of demo accounts for the terminal."""
    lines = [f"{'user':<20} {'password':<14} {'role':<16} center"]
    for a in accounts:
        lines.append(f"{a['user_id']:<20} {a['password']:<14} {a['role']:<16} {a['center']}"
                     f"  {a['name']}")
    return "\n".join(lines)
