#!/usr/bin/env bash
# The seed's automatic send (seed §6.3: gentask, taskfilesquery, send, uprogress):
#   autosend.sh xiaofang 1:1:1 fulltime cfec-001
source "$(dirname "$(readlink -f "$0")")/common.sh"
usage() {
  cat <<'U'
usage: autosend.sh [--root DIR] NAME [BTOBSCDN [POLICY [BASESUBDIR]]] [--deloldtorrent] [--timeout S]
  Publishes the DCP <root><basedatapath>/BASESUBDIR/dcps/NAME of this sender:
    bft2 gentask DCP --wait   (task file <root>/data/sender/tmp/BASESUBDIR-NAME.task.json)
    bft2 send BASESUBDIR-NAME
    bft2 uploadprogress BASESUBDIR-NAME --wait   (until ready: every method serves it)
  BTOBSCDN, POLICY and BASESUBDIR default to config.json (bt-obs-cdn, priorpolicy, basesubdir).
  Then hand <root>/data/sender/uploaded/BASESUBDIR-NAME.task.json to the receivers.
U
}
parse_common 1 4 "$@"
name="${pos[0]}"
ratio="${pos[1]:-}"
policy="${pos[2]:-}"
basesubdir="${pos[3]:-$(config_value basesubdir)}"
[ -n "$basesubdir" ] || die "no BASESUBDIR given and none in config.json"
timeout=(); deloldtorrent=()
for ((i = 0; i < ${#opts[@]}; i++)); do
  case "${opts[i]}" in
    --timeout) timeout=(--timeout "${opts[i + 1]}"); i=$((i + 1)) ;;
    --deloldtorrent) deloldtorrent=(--deloldtorrent) ;;
    *) die "unknown option: ${opts[i]}" ;;
  esac
done
basedatapath="$(config_value basedatapath)"
dcp="${root%/}${basedatapath:-/data/dcp}/$basesubdir/dcps/$name"
task="$basesubdir-$name"
gen=(gentask "$dcp" --basesubdir "$basesubdir" --wait)
[ -n "$ratio" ] && gen+=(--btobscdn "$ratio")
[ -n "$policy" ] && gen+=(--policy "$policy")
bft2 "${gen[@]}" ${deloldtorrent[@]+"${deloldtorrent[@]}"} ${timeout[@]+"${timeout[@]}"}
bft2 send "$task"
bft2 uploadprogress "$task" --wait ${timeout[@]+"${timeout[@]}"}
echo "ready: ${root%/}/data/sender/uploaded/$task.task.json"
