#!/usr/bin/env bash
# The receiver's download progress (JSON) (seed: progress.sh name cfec-001).
source "$(dirname "$(readlink -f "$0")")/common.sh"
usage() {
  cat <<'U'
usage: progress.sh [--root DIR] TASK | NAME BASESUBDIR [bft2 progress options]
  bft2 progress BASESUBDIR-NAME: the receiver's download progress (JSON).
  --wait: ask again until downloaded (exit 1 on downloaderror); --timeout S.
U
}
parse_common 1 2 "$@"
exec "$BFT2" --root "$root" progress "$(task_of "${pos[@]}")" ${opts[@]+"${opts[@]}"}
