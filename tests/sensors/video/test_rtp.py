"""The gateway's own puller, piece by piece (issue 23, V1 全时可用): RTSP's interleaved frames,
H.264's RTP payload (RFC 6184: single NAL, STAP-A, FU-A, a lost packet), the RTP clock, the SDP,
and the MPEG-TS muxer checked by ffprobe/ffmpeg (a real decoder, not our own parser)."""

from __future__ import annotations

import base64
import subprocess

from sensors.video import rtp, ts
from sensors.video.rtsp import parse_sdp, status_reason

SPS = bytes.fromhex("6742c01e95a0a0f3")     # a Baseline SPS header's first bytes (type 7)
PPS = bytes.fromhex("68ce3c80")             # type 8


def _rtp(seq: int, ts_: int, payload: bytes, marker: bool = False, pt: int = 96,
         csrc: int = 0, padding: int = 0) -> bytes:
    b0 = 0x80 | csrc | (0x20 if padding else 0)
    head = bytes((b0, (0x80 if marker else 0) | pt)) + seq.to_bytes(2, "big") + ts_.to_bytes(4, "big") \
        + b"\x00\x00\x00\x01" + b"\x00\x00\x00\x02" * csrc
    pad = (b"\x00" * (padding - 1) + bytes((padding,))) if padding else b""
    return head + payload + pad


def _frame(ch: int, data: bytes) -> bytes:
    return b"$" + bytes((ch,)) + len(data).to_bytes(2, "big") + data


def test_interleaved_frames_are_cut_and_an_rtsp_answer_between_them_is_skipped() -> None:
    answer = b"RTSP/1.0 200 OK\r\nCSeq: 7\r\nContent-Length: 5\r\n\r\nhello"
    buf = _frame(0, b"a" * 10) + answer + _frame(1, b"b" * 3) + _frame(0, b"c" * 8)[:6]
    frames, used = rtp.interleaved(buf)
    assert frames == [(0, b"a" * 10), (1, b"bbb")]
    assert buf[used:] == _frame(0, b"c" * 8)[:6]        # the incomplete frame waits for more
    frames, used = rtp.interleaved(buf[used:] + _frame(0, b"c" * 8)[6:])
    assert frames == [(0, b"c" * 8)]


def test_single_stap_a_and_fu_a_make_access_units_and_a_gap_drops_until_the_next_idr() -> None:
    d = rtp.H264Depacketizer(96)
    out: list[rtp.AccessUnit] = []
    idr = bytes((0x65,)) + bytes(range(256)) * 10           # type 5, 2,561 bytes
    stap = bytes((24,)) + len(SPS).to_bytes(2, "big") + SPS + len(PPS).to_bytes(2, "big") + PPS
    d.push(_rtp(1, 1000, stap), out)
    # FU-A: indicator (NRI of the NAL, type 28), header (S/E bits, the NAL's type)
    body = idr[1:]
    parts = [body[i:i + 1000] for i in range(0, len(body), 1000)]
    for k, part in enumerate(parts):
        fu = 0x80 if k == 0 else (0x40 if k == len(parts) - 1 else 0)
        d.push(_rtp(2 + k, 1000, bytes((0x60 | 28, fu | 5)) + part, marker=k == len(parts) - 1,
                    csrc=1 if k == 1 else 0, padding=3 if k == 0 else 0), out)
    assert len(out) == 1 and out[0].key and out[0].rtp_ts == 1000
    assert out[0].nals == [SPS, PPS, idr]                   # the FU rebuilt byte for byte
    d.push(_rtp(5, 4000, bytes((0x41,)) + b"p" * 50, marker=True), out)   # a P picture
    assert len(out) == 2 and not out[1].key
    d.push(_rtp(7, 7000, bytes((0x41,)) + b"q" * 50, marker=True), out)   # seq 6 was lost
    d.push(_rtp(8, 10000, bytes((0x41,)) + b"r" * 50, marker=True), out)
    assert len(out) == 2 and d.stats["gaps"] == 1 and d.stats["dropped_units"] == 2
    d.push(_rtp(9, 13000, bytes((0x65,)) + b"k" * 50, marker=True), out)  # the next IDR
    assert len(out) == 3 and out[2].key
    d.push(_rtp(10, 16000, b"\x41zz", pt=97, marker=True), out)          # another payload type
    assert len(out) == 3


def test_parameter_sets_sent_apart_join_the_next_picture() -> None:
    d = rtp.H264Depacketizer()
    out: list[rtp.AccessUnit] = []
    d.push(_rtp(1, 500, bytes((24,)) + len(SPS).to_bytes(2, "big") + SPS
                + len(PPS).to_bytes(2, "big") + PPS, marker=True), out)     # marked, no picture
    assert out == []
    d.push(_rtp(2, 500, bytes((0x65,)) + b"i" * 20, marker=True), out)
    assert len(out) == 1 and out[0].nals[:2] == [SPS, PPS] and out[0].key


def test_the_clock_follows_rtp_time_from_the_arrival_of_the_first_picture() -> None:
    c = rtp.Clock(90000)
    first = c.pts(4294967000, 1000.0)               # near the 32-bit wrap
    assert first == int(1000.0 * 90000) % (1 << 33)
    assert c.pts(4294967000 + 9000 - (1 << 32) + (1 << 32), 1000.5) == first + 9000
    assert c.pts((4294967000 + 18000) % (1 << 32), 1000.9) == first + 18000   # wrapped
    jump = (4294967000 + 18000 + 2_000_000) % (1 << 32)          # 22 s ahead: the camera restarted
    assert c.pts(jump, 2000.0) == int(2000.0 * 90000) % (1 << 33)                # re-anchored
    assert c.pts((jump + 4500) % (1 << 32), 2000.2) == int(2000.0 * 90000) % (1 << 33) + 4500


def test_the_sdp_gives_the_video_track_its_codec_and_parameter_sets() -> None:
    sets = ",".join(base64.b64encode(x).decode().rstrip("=") for x in (SPS, PPS))
    sdp = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=cam\r\na=control:*\r\n"
           "m=audio 0 RTP/AVP 8\r\na=control:stream=1\r\n"
           "m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
           f"a=fmtp:96 packetization-mode=1;sprop-parameter-sets={sets};profile-level-id=42c01e\r\n"
           "a=control:stream=0\r\n")
    t = parse_sdp(sdp, "rtsp://10.0.0.5/live/1/")
    assert t is not None and (t.control, t.payload_type, t.codec, t.rate) == \
        ("rtsp://10.0.0.5/live/1/stream=0", 96, "h264", 90000)
    assert t.params == [SPS, PPS]
    h265 = parse_sdp("m=video 0 RTP/AVP 98\r\na=rtpmap:98 H265/90000\r\na=control:rtsp://x/y/t1\r\n",
                     "rtsp://x/y")
    assert h265 is not None and h265.codec == "h265" and h265.control == "rtsp://x/y/t1"
    assert parse_sdp("m=audio 0 RTP/AVP 0\r\n", "rtsp://x/") is None
    assert status_reason(401, "Unauthorized").startswith("认证失败 (401)")
    assert status_reason(503, "Busy").startswith("摄像机服务错误 (503)")


def test_the_muxer_writes_a_stream_ffmpeg_decodes_without_a_complaint(tmp_path) -> None:
    """Real pictures (ffmpeg's own H.264 encoder, Annex B) through the muxer: ffprobe reads the
    size and every frame with its PTS, the decoder reports no error, our Tracker finds each
    keyframe by its random access indicator."""
    raw = tmp_path / "in.h264"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=160x96:rate=10",
                    "-t", "3", "-c:v", "libx264", "-g", "10", "-bf", "0", "-x264-params",
                    "aud=1", "-f", "h264", str(raw)], check=True)
    units: list[list[bytes]] = []
    for nal in raw.read_bytes().split(b"\x00\x00\x01"):
        nal = nal.rstrip(b"\x00")
        if not nal:
            continue
        if nal[0] & 0x1F == 9 or not units:
            units.append([])
        units[-1].append(nal)
    pics = [[n for n in u if n[0] & 0x1F != 9] for u in units]
    pics = [u for u in pics if any(1 <= n[0] & 0x1F <= 5 for n in u)]
    mux = ts.Muxer([])
    out = b"".join(mux.mux(u, 900000 + 9000 * k, any(n[0] & 0x1F == 5 for n in u))
                   for k, u in enumerate(pics))
    assert len(out) % ts.PKT == 0
    tr = ts.Tracker()
    keys = tr.feed(out)
    assert tr.codec == "h264" and len(keys) == 3                   # a keyframe each second
    assert ts.video_pts(tr, out) == [900000 + 9000 * k for k in range(len(pics))]
    f = tmp_path / "out.ts"
    f.write_bytes(out)
    probe = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
                            "-show_entries", "stream=codec_name,width,height,nb_read_frames",
                            "-of", "default=nw=1", str(f)], capture_output=True, text=True, check=True)
    assert "codec_name=h264" in probe.stdout and "width=160" in probe.stdout
    assert f"nb_read_frames={len(pics)}" in probe.stdout and len(pics) == 30
    dec = subprocess.run(["ffmpeg", "-v", "error", "-i", str(f), "-f", "null", "-"],
                         capture_output=True, text=True, check=True)
    assert dec.stderr.strip() == ""


def test_decode_times_equal_presentation_times_without_b_frames() -> None:
    d = rtp.DecodeTimes()
    got = [d.dts(p, k) for p, k in ((0, True), (3600, False), (7200, False), (10800, True))]
    assert got == [0, 3600, 7200, 10800] and d.stats["dropped"] == 0


def test_b_frames_are_found_dropped_to_the_next_keyframe_then_given_decode_times() -> None:
    """Decode order I0 P3 B1 B2 P6 B4 B5 | I9 P12 B10 B11 … (frames of 3600): the reordering shows
    at B1; the rest of that GOP is dropped; from I9 on DTS = PTS(I9) − 1 frame, + 1 frame each."""
    f = 3600
    gop = [(0, True), (3, False), (1, False), (2, False), (6, False), (4, False), (5, False)]
    d = rtp.DecodeTimes()
    first = [d.dts(p * f, k) for p, k in gop]
    assert first == [0, 3 * f, None, None, None, None, None]
    second = [d.dts((p + 9) * f, k) for p, k in gop]
    assert second == [k * f for k in range(8, 15)]
    assert all(dt <= (p + 9) * f for (p, _), dt in zip(gop, second, strict=True))
    third = [d.dts((p + 16) * f, k) for p, k in gop]                     # and on, no drop
    assert third == [k * f for k in range(15, 22)] and d.stats["reorder_resyncs"] == 1


def test_a_pts_dts_pair_is_written_and_read_back() -> None:
    mux = ts.Muxer([SPS, PPS])
    out = mux.mux([bytes((0x65,)) + b"k" * 300], 900000, True, 896400)
    tr = ts.Tracker()
    assert tr.feed(out) == [ts.Muxer.KEY_AT]        # where the gateway is told it starts
    assert ts.video_pts(tr, out) == [900000]
    i = next(j for j in range(0, len(out), ts.PKT) if out[j + 1] & 0x40 and
             ((out[j + 1] & 0x1F) << 8 | out[j + 2]) == ts.VIDEO_PID)
    start = ts._payload_start(out, i)
    assert out[start + 7] == 0xC0 and out[start + 8] == 10           # PTS and DTS flags, 10 bytes
    b = out[start + 14:start + 19]
    dts = (((b[0] >> 1) & 7) << 30) | (b[1] << 22) | ((b[2] >> 1) << 15) | (b[3] << 7) | (b[4] >> 1)
    assert dts == 896400 and b[0] >> 4 == 0x1
