"""MPEG-TS (ISO/IEC 13818-1) just enough for a gateway: write it from H.264 pictures (``Muxer``:
the gateway's own RTSP puller); find the PAT/PMT, the video stream and
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


# --- the muxer (the gateway's own puller writes what ffmpeg's ``-f mpegts`` wrote) -------------
PAT_PID, PMT_PID, VIDEO_PID = 0x0000, 0x1000, 0x0100
START = b"\x00\x00\x00\x01"
AUD = START + b"\x09\xf0"       # an access unit delimiter: H.264 in MPEG-TS starts each picture with one


def _crc32_mpeg(data: bytes) -> int:
    """CRC-32/MPEG-2 (polynomial 0x04C11DB7, not reflected) of a PSI section: computed once
    per muxer for two constant tables, so a bitwise loop is enough."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
            crc &= 0xFFFFFFFF
    return crc


def _psi_section(table_id: int, ext: int, body: bytes) -> bytes:
    length = 5 + len(body) + 4
    head = bytes((table_id, 0xB0 | (length >> 8), length & 0xFF, ext >> 8, ext & 0xFF,
                  0xC1, 0x00, 0x00))
    sec = head + body
    return sec + _crc32_mpeg(sec).to_bytes(4, "big")


def _stamp(prefix: int, t: int) -> bytes:
    """A PES PTS/DTS field: 4-bit ``prefix`` (0x20 PTS alone, 0x30 PTS before a DTS, 0x10 the
    DTS), 33 bits of 90 kHz time with marker bits."""
    p = t % PTS_WRAP
    return bytes((prefix | 0x01 | ((p >> 29) & 0x0E), (p >> 22) & 0xFF, 0x01 | ((p >> 14) & 0xFE),
                  (p >> 7) & 0xFF, 0x01 | ((p << 1) & 0xFE)))


class Muxer:
    """H.264 access units → MPEG-TS (one program, video only; ISO/IEC 13818-1 as ffmpeg writes it
    for ``-c copy``): PAT and PMT before every keyframe, one PES per picture with its PTS and an
    access unit delimiter, the PCR on the video PID, the random access indicator on a keyframe's
    first packet (``Tracker`` finds keyframes by it). ``params`` are the SPS/PPS from the SDP
    (``sprop-parameter-sets``), put before each IDR that does not carry its own: many cameras
    send them only out of band, and a viewer joining at a keyframe needs them."""

    KEY_AT = 2 * PKT
    """Where a keyframe's first video packet is in ``mux``'s bytes: after its PAT and PMT."""

    def __init__(self, params: list[bytes] | None = None) -> None:
        self.params = list(params or [])
        self.cc = {PAT_PID: 0, PMT_PID: 0, VIDEO_PID: 0}
        pat = _psi_section(0x00, 1, bytes((0x00, 0x01, 0xE0 | (PMT_PID >> 8), PMT_PID & 0xFF)))
        pmt = _psi_section(0x02, 1, bytes((0xE0 | (VIDEO_PID >> 8), VIDEO_PID & 0xFF, 0xF0, 0x00,
                                       H264, 0xE0 | (VIDEO_PID >> 8), VIDEO_PID & 0xFF, 0xF0, 0x00)))
        self._pat_body = b"\x00" + pat      # pointer field 0
        self._pmt_body = b"\x00" + pmt
        self._heads = {pid: [bytes((SYNC, pid >> 8, pid & 0xFF, 0x10 | c)) for c in range(16)]
                       for pid in self.cc}

    def tables(self) -> bytes:
        return self._psi(PAT_PID, self._pat_body) + self._psi(PMT_PID, self._pmt_body)

    def _psi(self, pid: int, body: bytes) -> bytes:
        c = self.cc[pid]
        self.cc[pid] = (c + 1) & 0x0F
        return bytes((SYNC, 0x40 | (pid >> 8), pid & 0xFF, 0x10 | c)) + body + b"\xff" * (184 - len(body))

    def mux(self, nals: list[bytes], pts: int, key: bool, dts: int | None = None) -> bytes:
        """One picture (its NAL units without start codes, its 90 kHz PTS, and its DTS where it
        differs: B-frames) as TS packets."""
        if key:
            # the parameter sets once, before everything else: the stream's own win over the
            # SDP's, and a payloader that repeats them before each slice of an IDR (GStreamer's
            # ``config-interval=-1``) would otherwise split one picture into several for a parser
            for n in nals:
                if n[0] & 0x1F in (7, 8):
                    self.params = sorted([p for p in self.params if p[0] & 0x1F != n[0] & 0x1F] + [n],
                                         key=lambda p: p[0] & 0x1F)
            nals = self.params + [n for n in nals if n[0] & 0x1F not in (7, 8, 9)]
        elif any(n[0] & 0x1F == 9 for n in nals):
            nals = [n for n in nals if n[0] & 0x1F != 9]    # the camera's delimiter: ours is first
        es = AUD + START + START.join(nals)
        if dts is None or dts == pts:
            pes = bytes((0, 0, 1, 0xE0, 0, 0, 0x80, 0x80, 5)) + _stamp(0x20, pts) + es
            return (self.tables() if key else b"") + self._packetize(pes, pts, key)
        pes = bytes((0, 0, 1, 0xE0, 0, 0, 0x80, 0xC0, 10)) + _stamp(0x30, pts) + _stamp(0x10, dts) + es
        return (self.tables() if key else b"") + self._packetize(pes, dts, key)

    def _packetize(self, pes: bytes, pcr: int, key: bool) -> bytes:
        pid, cc, heads = VIDEO_PID, self.cc[VIDEO_PID], self._heads[VIDEO_PID]
        # first packet: adaptation field with the PCR (33-bit base, 6 reserved bits, extension 0)
        b = pcr % PTS_WRAP
        pcr_bytes = bytes(((b >> 25) & 0xFF, (b >> 17) & 0xFF, (b >> 9) & 0xFF, (b >> 1) & 0xFF,
                           ((b & 1) << 7) | 0x7E, 0x00))
        flags = 0x50 if key else 0x10       # random access indicator + PCR flag
        room = 184 - 8                      # after the adaptation field (length byte + 7)
        first = pes[:room]
        stuff = room - len(first)
        out = [bytes((SYNC, 0x40 | (pid >> 8), pid & 0xFF, 0x30 | cc, 7 + stuff, flags)),
               pcr_bytes, b"\xff" * stuff, first]
        cc = (cc + 1) & 0x0F
        n = len(pes)
        i = room
        while i + 184 <= n:
            out.append(heads[cc])
            out.append(pes[i:i + 184])
            cc = (cc + 1) & 0x0F
            i += 184
        if i < n:                           # the last, short packet: stuffing in its adaptation field
            rest = pes[i:]
            af = 183 - len(rest)
            out.append(bytes((SYNC, pid >> 8, pid & 0xFF, 0x30 | cc, af)))
            if af:
                out.append(b"\x00" + b"\xff" * (af - 1))
            out.append(rest)
            cc = (cc + 1) & 0x0F
        self.cc[VIDEO_PID] = cc
        return b"".join(out)
