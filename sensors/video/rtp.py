"""RTP over RTSP's TCP channel (RFC 2326 §10.12) and H.264's RTP payload (RFC 6184) into access
units: the gateway's own puller (``sensors.video.rtsp``) for many cameras in one process.

Written for the bench's finding (bench/README.md, video): ffmpeg pays a poll and a recv per
interleave header and per RTP packet (~400 syscalls a second per camera, nearly all its CPU),
and per-packet objects (PyAV, aiortsp's ``RTSPBinary`` + ``dpkt.RTP``) cost as much in Python.
Here a read takes everything the socket holds (a coalesce period's worth, ~8 kB at 300 kbit/s)
and the packets in it are cut with a few slices each; nothing is decoded.
"""

from __future__ import annotations

from dataclasses import dataclass

NAL_IDR, NAL_SEI, NAL_SPS, NAL_PPS, NAL_AUD = 5, 6, 7, 8, 9
STAP_A, FU_A = 24, 28


def interleaved(buf: bytes) -> tuple[list[tuple[int, bytes]], int]:
    """The interleaved frames (``$``, channel, 16-bit length, data) at the start of ``buf``:
    ``([(channel, data)], used)``; bytes after ``used`` are an incomplete frame (keep them for
    the next read). An RTSP message between frames (a keep-alive's answer) is skipped whole."""
    out = []
    i, n = 0, len(buf)
    while i + 4 <= n:
        if buf[i] == 0x24:                  # '$'
            end = i + 4 + ((buf[i + 2] << 8) | buf[i + 3])
            if end > n:
                break
            out.append((buf[i + 1], buf[i + 4:end]))
            i = end
            continue
        head = buf.find(b"\r\n\r\n", i)     # an RTSP response (or request) in the stream
        if head < 0:
            if buf.find(b"$", i) < 0 and n - i > 65536:    # garbage, not a message: drop it
                i = n
            break
        length = 0
        for line in buf[i:head].split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip() or 0)
        if head + 4 + length > n:
            break
        i = head + 4 + length
    return out, i


@dataclass(slots=True)
class AccessUnit:
    """One picture's NAL units (no start codes), its RTP timestamp, and whether it is an IDR."""

    nals: list[bytes]
    rtp_ts: int
    key: bool


class H264Depacketizer:
    """RTP packets of one H.264 stream → access units (RFC 6184: single NAL units, STAP-A,
    FU-A). A unit ends at the marker bit or when the timestamp changes. After a lost packet
    (a sequence gap) the pictures up to the next IDR are dropped, not shown broken."""

    def __init__(self, payload_type: int | None = None) -> None:
        self.payload_type = payload_type
        self.nals: list[bytes] = []
        self.fu: list[bytes] | None = None
        self.rtp_ts: int | None = None
        self.seq: int | None = None
        self.wait_key = False
        self.stats = {"packets": 0, "gaps": 0, "dropped_units": 0, "bad": 0}

    def push(self, pkt: bytes, out: list[AccessUnit]) -> None:
        """Take one RTP packet; completed access units are appended to ``out``."""
        if len(pkt) < 13 or pkt[0] >> 6 != 2:
            self.stats["bad"] += 1
            return
        b0, b1 = pkt[0], pkt[1]
        if self.payload_type is not None and b1 & 0x7F != self.payload_type:
            return
        self.stats["packets"] += 1
        start = 12 + 4 * (b0 & 0x0F)
        if b0 & 0x10:                       # header extension
            if len(pkt) < start + 4:
                self.stats["bad"] += 1
                return
            start += 4 + 4 * ((pkt[start + 2] << 8) | pkt[start + 3])
        end = len(pkt) - (pkt[-1] if b0 & 0x20 else 0)
        if start >= end:
            return
        seq = (pkt[2] << 8) | pkt[3]
        ts = int.from_bytes(pkt[4:8], "big")
        if self.seq is not None and seq != (self.seq + 1) & 0xFFFF:
            self.stats["gaps"] += 1
            self.fu = None
            self.wait_key = True
        self.seq = seq
        if self.rtp_ts is not None and ts != self.rtp_ts and self.nals:
            self._emit(out)
        self.rtp_ts = ts
        kind = pkt[start] & 0x1F
        if kind < STAP_A:
            if kind:
                self.nals.append(pkt[start:end])
        elif kind == FU_A:
            if end - start > 2:
                fu = pkt[start + 1]
                if fu & 0x80:               # start: the NAL header rebuilt from both bytes
                    self.fu = [bytes(((pkt[start] & 0xE0) | (fu & 0x1F),)), pkt[start + 2:end]]
                elif self.fu is not None:
                    self.fu.append(pkt[start + 2:end])
                if fu & 0x40 and self.fu is not None:
                    self.nals.append(b"".join(self.fu))
                    self.fu = None
        elif kind == STAP_A:
            i = start + 1
            while i + 2 <= end:
                size = (pkt[i] << 8) | pkt[i + 1]
                if size and i + 2 + size <= end:
                    self.nals.append(pkt[i + 2:i + 2 + size])
                i += 2 + size
        else:                               # STAP-B, MTAP, FU-B: not sent by cameras in mode 1
            self.stats["bad"] += 1
        if b1 & 0x80:                       # marker: the picture's last packet
            self._emit(out)

    def _emit(self, out: list[AccessUnit]) -> None:
        nals, self.nals = self.nals, []
        if not nals or self.rtp_ts is None:
            return
        if not any(1 <= n[0] & 0x1F <= 5 for n in nals):
            # parameter sets or SEI sent apart (a marked STAP-A before the IDR): they belong to
            # the next picture, not a picture of their own (two PES with one timestamp)
            self.nals = nals[-8:]
            return
        key = any(n[0] & 0x1F == NAL_IDR for n in nals)
        if self.wait_key and not key:
            self.stats["dropped_units"] += 1
            return
        self.wait_key = False
        out.append(AccessUnit(nals, self.rtp_ts, key))


class Clock:
    """RTP timestamps (32-bit, ``rate`` Hz) → 90 kHz PTS on the gateway's wall clock: the first
    picture is stamped with the time it arrived, each next one with its RTP distance from it
    (the camera's own frame timing, unlike an arrival stamp: reads come in batches). A jump of
    more than ``jump_s`` either way (the camera restarted its clock) re-anchors at arrival."""

    def __init__(self, rate: int = 90000, jump_s: float = 10.0) -> None:
        self.rate, self.jump = rate, int(jump_s * rate)
        self.anchor_pts: int | None = None    # 90 kHz wall clock of the anchor picture
        self.anchor_ext = 0                   # its unwrapped RTP timestamp
        self.ext = 0
        self.last: int | None = None

    def pts(self, rtp_ts: int, arrival: float) -> int:
        if self.last is None:
            self.ext = rtp_ts
        else:
            delta = (rtp_ts - self.last + (1 << 31)) % (1 << 32) - (1 << 31)
            self.ext += delta
            if abs(delta) > self.jump:
                self.anchor_pts = None
        self.last = rtp_ts
        if self.anchor_pts is None:
            self.anchor_pts, self.anchor_ext = int(arrival * 90000), self.ext
        return (self.anchor_pts + (self.ext - self.anchor_ext) * 90000 // self.rate) % (1 << 33)


class DecodeTimes:
    """Decode times (DTS, 90 kHz) for pictures in decode order, from their PTS. RTP carries only
    presentation times; a stream without B-frames decodes in display order (DTS = PTS, no delay).
    The first picture shown before one already decoded reveals B-frames: the reorder depth N is
    how many earlier-decoded pictures of the recent window show later than a picture, the frame
    interval d the smallest gap between recent PTS. The pictures up to the next keyframe are
    dropped once (their decode times are already wrong); from it on DTS = PTS(key) − N·d, then
    + d per picture (cameras send a constant frame rate), never above a picture's PTS. A picture
    that breaks that (a deeper reordering, a jump) drops again to the next keyframe and relearns.
    ``None``: drop this picture."""

    WINDOW = 16

    def __init__(self) -> None:
        self.recent: list[int] = []      # PTS of the last pictures, decode order
        self.reorder = False
        self.depth = 0
        self.step: int | None = None
        self.last: int | None = None     # the last DTS given
        self.wait_key = False
        self.stats = {"reorder_resyncs": 0, "dropped": 0}

    def dts(self, pts: int, key: bool) -> int | None:
        later = sum(p > pts for p in self.recent)
        for p in self.recent[-4:]:
            gap = abs(pts - p)
            if gap and (self.step is None or gap < self.step):
                self.step = gap
        self.recent.append(pts)
        del self.recent[:-self.WINDOW]
        if later:
            self.depth = max(self.depth, later)
        if not self.reorder:
            if not later:
                self.last = pts
                return pts
            self.reorder = True
            return self._resync()
        if self.wait_key:
            if not key or self.step is None:
                self.stats["dropped"] += 1
                return None
            self.wait_key = False
            dts = pts - self.depth * self.step
            if self.last is not None and dts <= self.last:
                dts = self.last + 1
        else:
            dts = min(pts, (self.last or pts) + (self.step or 1))
        if self.last is not None and dts <= self.last:
            return self._resync()
        self.last = dts
        return dts

    def _resync(self) -> None:
        self.wait_key = True
        self.stats["reorder_resyncs"] += 1
        self.stats["dropped"] += 1
        return None
