#!/usr/bin/env bash
# pip install, quietly (issue 21: `make demo` printed hundreds of index notes above the URLs).
# Usage: scripts/pip-quiet.sh PIP ARGS...   Everything pip says is appended to $INSTALL_LOG
# (default var/install.log); the terminal gets one line, plus every error and every warning
# but the index notes ("Location 'file:///…' is ignored", one per package and extra index);
# on a failure, all it said but those notes. The exit status is pip's.
set -uo pipefail
log=${INSTALL_LOG:-var/install.log}
mkdir -p "$(dirname "$log")"
pip=$1; shift
out=$(mktemp)
"$pip" install --progress-bar off "$@" >"$out" 2>&1
rc=$?
{ echo "=== $(date -u +%FT%TZ) pip install $*"; cat "$out"; } >>"$log"
notes=$(grep -c "^WARNING: Location '.*' is ignored" "$out" || true)
if [ "$rc" -ne 0 ]; then
  grep -v "^WARNING: Location '.*' is ignored" "$out" >&2
  echo "pip install $* failed (exit $rc); everything it said is in $log" >&2
else
  grep -E "^(ERROR|WARNING)" "$out" | grep -v "^WARNING: Location '.*' is ignored" >&2 || true
  echo "pip: installed $* (${notes} index notes and the details in $log)"
fi
rm -f "$out"
exit "$rc"
