#!/usr/bin/env bash
# Stop the task, remove its partial data, file it in history (seed: cancel.sh name cfec-001).
source "$(dirname "$(readlink -f "$0")")/common.sh"
usage() {
  cat <<'U'
usage: cancel.sh [--root DIR] TASK | NAME BASESUBDIR [bft2 cancel options]
  bft2 cancel BASESUBDIR-NAME: stop the task, remove its partial data, file it in history.
  Never touches a finished DCP or another task.
U
}
parse_common 1 2 "$@"
exec "$BFT2" --root "$root" cancel "$(task_of "${pos[@]}")" ${opts[@]+"${opts[@]}"}
