"""MPEG-TS (ISO/IEC 13818-1) just enough for a gateway: find the PAT/PMT, the video stream and
its codec, and the packets where a keyframe starts (the random access indicator ffmpeg's muxer
sets, or an IDR/IRAP NAL at the start of a PES), so that a new viewer is given the last GOP
from its keyframe (秒开). No payload is decoded or copied per viewer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

PKT = 188
SYNC = 0x47
H264, H265, MPEG2 = 0x1B, 0x24, 0x02
CODECS = {H264: "h264", H265: "h265", MPEG2: "mpeg2", 0x10: "mpeg4"}
PTS_WRAP = 1 << 33


@dataclass
class Tracker:
    """Follows one TS stream. ``feed(buf)`` (whole packets) answers the offsets in ``buf`` where
    a keyframe's first packet starts; ``pat``/``pmt`` are the latest table packets (a GOP
    handed to a new viewer starts with them); ``codec`` is the video codec once the PMT said."""

    pmt_pid: int | None = None
    video_pid: int | None = None
    codec: str | None = None
    pat: bytes = b""
    pmt: bytes = b""
    stream_types: list[int] = field(default_factory=list)

    def feed(self, buf: bytes | memoryview) -> list[int]:
        keys = []
        n = len(buf) - len(buf) % PKT
        for i in range(0, n, PKT):
            b1 = buf[i + 1]
            if not b1 & 0x40:           # not a payload unit start: nothing of interest
                continue
            pid = ((b1 & 0x1F) << 8) | buf[i + 2]
            if pid == self.video_pid:
                if _is_key(buf, i, self.codec):
                    keys.append(i)
            elif pid == 0:
                self.pat = bytes(buf[i:i + PKT])
                self._parse_pat(self.pat)
            elif pid == self.pmt_pid:
                self.pmt = bytes(buf[i:i + PKT])
                self._parse_pmt(self.pmt)
        return keys

    def _parse_pat(self, p: bytes) -> None:
        s = _section(p)
        if s is None or s[0] != 0x00:
            return
        end = min(len(s), 3 + (((s[1] & 0x0F) << 8) | s[2])) - 4
        for j in range(8, end - 3, 4):
            if (s[j] << 8 | s[j + 1]) != 0:
                self.pmt_pid = ((s[j + 2] & 0x1F) << 8) | s[j + 3]
                return

    def _parse_pmt(self, p: bytes) -> None:
        s = _section(p)
        if s is None or s[0] != 0x02 or len(s) < 12:
            return
        end = min(len(s), 3 + (((s[1] & 0x0F) << 8) | s[2])) - 4
        j = 12 + (((s[10] & 0x0F) << 8) | s[11])
        types = []
        while j + 5 <= end:
            st, pid = s[j], ((s[j + 1] & 0x1F) << 8) | s[j + 2]
            types.append(st)
            if st in CODECS and self.video_pid is None:
                self.video_pid, self.codec = pid, CODECS[st]
            j += 5 + (((s[j + 3] & 0x0F) << 8) | s[j + 4])
        self.stream_types = types


def _payload_start(p: bytes | memoryview, i: int = 0) -> int:
    afc = (p[i + 3] >> 4) & 3
    start = i + 4
    if afc & 2:
        start += 1 + p[i + 4]
    return start


def _section(p: bytes) -> bytes | None:
    start = _payload_start(p)
    if start >= PKT:
        return None
    start += 1 + p[start]   # pointer field
    return p[start:] if start < PKT else None


def _is_key(buf: bytes | memoryview, i: int, codec: str | None) -> bool:
    """A PES start of the video stream that begins a keyframe: the adaptation field's random
    access indicator, else an IDR (H.264 type 5, or SPS 7) / IRAP (H.265 16–23, VPS 32) NAL."""
    afc = (buf[i + 3] >> 4) & 3
    if afc & 2 and buf[i + 4] > 0 and buf[i + 5] & 0x40:
        return True
    start = _payload_start(buf, i)
    if start + 9 > i + PKT:
        return False
    body = bytes(buf[start + 9 + buf[start + 8]:i + PKT])    # after the PES header
    j = body.find(b"\x00\x00\x01")
    while 0 <= j < len(body) - 3:
        nal = body[j + 3]
        if codec == "h265":
            t = (nal >> 1) & 0x3F
            if 16 <= t <= 23 or t == 32:
                return True
        elif nal & 0x1F in (5, 7):
            return True
        j = body.find(b"\x00\x00\x01", j + 3)
    return False


def pes_pts(buf: bytes | memoryview, i: int) -> int | None:
    """The PTS (90 kHz) of the PES starting in the packet at ``i`` (payload unit start), or None."""
    start = _payload_start(buf, i)
    if start + 14 > i + PKT or buf[start:start + 3] != b"\x00\x00\x01" or not buf[start + 7] & 0x80:
        return None
    b = buf[start + 9:start + 14]
    return (((b[0] >> 1) & 7) << 30) | (b[1] << 22) | ((b[2] >> 1) << 15) | (b[3] << 7) | (b[4] >> 1)


def video_pts(tracker: Tracker, buf: bytes | memoryview) -> list[int]:
    """The PTS of each video PES starting in ``buf`` (whole packets), in order."""
    out = []
    for i in range(0, len(buf) - len(buf) % PKT, PKT):
        b1 = buf[i + 1]
        if b1 & 0x40 and ((b1 & 0x1F) << 8 | buf[i + 2]) == tracker.video_pid:
            pts = pes_pts(buf, i)
            if pts is not None:
                out.append(pts)
    return out
