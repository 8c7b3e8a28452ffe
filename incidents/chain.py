"""Hash-chain primitives of the audit trails (留痕防篡改, SEC9, SEC21; docs/security.md).

One home for what both trails use: the security audit (``app.security``, one stream) and each
incident's trail (``incidents.audit``, two chains in one stream). Here: the digests (SHA-256, or
SM3 of GB/T 32905 国密 through OpenSSL), the canonical form of an entry, the link functions, and
the walk that checks a chain link by link and names what was altered or removed. The trails keep
only their own layout (which stream fields carry ``seq``/``prev``/``hash``, where the head is).

A digest other than SHA-256 is written with its name (``sm3:<hex>``): each link names its own
algorithm, so a chain whose setting changed on the way still verifies link by link.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

DIGESTS = ("sha256", "sm3")
"""Selectable digests (``[incidents] audit_digest``, used by both trails)."""


def check_digest(name: str) -> str:
    """``name`` if it is a selectable digest, else ValueError (Chinese first)."""
    if name not in DIGESTS:
        raise ValueError(f"审计摘要算法只能是 {' / '.join(DIGESTS)} / audit digest must be one of "
                         f"{DIGESTS}, got {name!r}")
    return name


def digest_hex(data: bytes, digest: str = "sha256") -> str:
    """H(data) as written in a chain: bare hex for SHA-256, ``<name>:<hex>`` otherwise."""
    if digest == "sha256":
        return hashlib.sha256(data).hexdigest()
    return f"{digest}:{hashlib.new(check_digest(digest), data).hexdigest()}"


def digest_of(value: str) -> str:
    """The digest a written hash was made with (``sm3:<hex>`` → ``sm3``, bare hex → SHA-256)."""
    name, sep, _ = value.partition(":")
    return name if sep else "sha256"


def canonical(fields: dict, leave_out: tuple[str, ...] = ()) -> bytes:
    """An entry as canonical JSON (every value a string, sorted keys, no spaces, UTF-8), without
    the ``leave_out`` fields (the chain's own)."""
    body = {k: str(v) for k, v in fields.items() if k not in leave_out}
    # the stdlib's encoder: the bytes every existing chain was hashed over
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def chain_hash(prev: str, content: bytes, digest: str = "sha256") -> str:
    """The security audit's link: H(previous hash ‖ canonical content, ``seq`` included)."""
    return digest_hex(prev.encode() + content, digest)


def link(prev: str, seq: int, content: bytes, digest: str = "sha256") -> str:
    """An incident trail's link: H(previous digest | seq | the entry's ``e`` bytes as stored)."""
    return digest_hex(b"%s|%d|%s" % (prev.encode(), seq, content), digest)


def parse_head(head: str) -> tuple[int, str]:
    """``seq|hash[|…]`` → (seq, hash); ``''`` → (0, '') (the genesis)."""
    seq, _, rest = (head or "").partition("|")
    return (int(seq), rest.split("|", 1)[0]) if seq.isdigit() else (0, "")


def _entries(n: int) -> str:
    return f"{n} 条 {n} entr{'y' if n == 1 else 'ies'}"


@dataclass
class Walk:
    """Checks one chain entry by entry (``step``), then against its head (``finish``); the same
    findings, in the same words, for both trails. Start from ``seq``/``prev`` (an anchor left by
    archiving, or the genesis 0/'')."""

    seq: int = 0
    prev: str = ""
    checked: int = 0
    legacy: int = 0
    problems: list[tuple[str, str]] = field(default_factory=list)
    last_id: str = "(start)"

    def unchained(self, entry_id: str, before_any: bool) -> None:
        """An entry without chain fields: older than the chain (counted) when nothing chained came
        before it, else an altered one."""
        self.last_id = entry_id
        if before_any and self.checked == 0:
            self.legacy += 1
        else:
            self.problems.append((entry_id, "链字段缺失 chain fields missing (entry altered)"))

    def step(self, entry_id: str, seq_text: str, value: str, matches: bool,
             prev_ok: bool = True) -> None:
        """One chained entry: its written ``seq``, its hash ``value``, whether its content still
        gives that hash (``matches``), whether its own ``prev`` field (if it keeps one) is its
        predecessor's hash (``prev_ok``)."""
        self.last_id = entry_id
        self.checked += 1
        try:
            got = int(seq_text)
        except ValueError:
            got = -1
        if not matches:
            self.problems.append((entry_id, "内容与哈希不符 content does not match its hash "
                                            "(entry altered)"))
        if got > self.seq + 1:
            n = got - self.seq - 1
            self.problems.append((entry_id, f"之前缺少 {_entries(n)} removed before it "
                                            f"(seq {self.seq + 1}..{got - 1})"))
        elif got != self.seq + 1 or not prev_ok:
            self.problems.append((entry_id, "与前一条不相连 does not chain onto the entry before "
                                            f"it (expected seq {self.seq + 1})"))
        self.seq, self.prev = max(got, self.seq + 1), value

    def finish(self, head: str, label: str = "") -> None:
        """Compare the head (``seq|hash``) with the last entry walked: a head ahead of it means
        the newest entries were removed (a deleted stream too)."""
        hseq, hvalue = parse_head(head)
        if (hseq, hvalue) == (self.seq, self.prev) or (not head and self.seq == 0):
            return
        pre = f"{label}: " if label else ""
        if hseq > self.seq:
            n = hseq - self.seq
            self.problems.append((self.last_id, f"{pre}之后缺少 {n} 条 {n} newest "
                                                f"entr{'y' if n == 1 else 'ies'} removed after it "
                                                f"(seq {self.seq + 1}..{hseq})"))
        else:
            self.problems.append((self.last_id, f"{pre}链头与最后一条不符 head does not match the "
                                                "last entry"))
