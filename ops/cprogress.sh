#!/usr/bin/env bash
# A cacher's seeding state (JSON) (seed: cprogress.sh name cfec-001).
source "$(dirname "$(readlink -f "$0")")/common.sh"
usage() {
  cat <<'U'
usage: cprogress.sh [--root DIR] TASK | NAME BASESUBDIR [bft2 cprogress options]
  bft2 cprogress BASESUBDIR-NAME: a cacher's seeding state (JSON).
  --wait: ask again until seeding (exit 1 on an error state); --timeout S.
U
}
parse_common 1 2 "$@"
exec "$BFT2" --root "$root" cprogress "$(task_of "${pos[@]}")" ${opts[@]+"${opts[@]}"}
