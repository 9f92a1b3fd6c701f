#!/usr/bin/env bash
# The sender's publishing state (JSON) (seed: uprogress.sh name cfec-001).
source "$(dirname "$(readlink -f "$0")")/common.sh"
usage() {
  cat <<'U'
usage: uprogress.sh [--root DIR] TASK | NAME BASESUBDIR [bft2 uploadprogress options]
  bft2 uploadprogress BASESUBDIR-NAME: the sender's publishing state (JSON).
  --wait: ask again until ready (exit 1 on error); --timeout S.
U
}
parse_common 1 2 "$@"
exec "$BFT2" --root "$root" uploadprogress "$(task_of "${pos[@]}")" ${opts[@]+"${opts[@]}"}
