#!/usr/bin/env bash
# The seed's automatic receive (seed §6.3: copy the task file from the sender, recv,
# progress until downloaded, check the DCP):
#   autorecv.sh xiaofang cfec-001 true <sender>
source "$(dirname "$(readlink -f "$0")")/common.sh"
usage() {
  cat <<'U'
usage: autorecv.sh [--root DIR] NAME BASESUBDIR [REACTIVE] SENDER [--timeout S]
  Receives the task BASESUBDIR-NAME published by SENDER:
    copy BASESUBDIR-NAME.task.json from the sender's data/sender/uploaded/
    bft2 recv FILE [--reactive]
    bft2 progress BASESUBDIR-NAME --wait   (until downloaded)
    check every file of the stored DCP against its sha1 in the task (sha1sum -c)
  SENDER: an ssh destination (host or user@host; scp from /data/sender/uploaded/, set up
  `ssh-copy-id` first), a sender's root directory on this machine, or the task file itself.
  REACTIVE: true or false (default false; it matters to cachers).
U
}
parse_common 3 4 "$@"
name="${pos[0]}"
basesubdir="${pos[1]}"
if [ ${#pos[@]} -eq 4 ]; then reactive="${pos[2]}"; sender="${pos[3]}"; else reactive=false; sender="${pos[2]}"; fi
case "$reactive" in true) reactive=(--reactive) ;; false) reactive=(--no-reactive) ;; *) die "REACTIVE must be true or false: $reactive" ;; esac
timeout=()
for ((i = 0; i < ${#opts[@]}; i++)); do
  case "${opts[i]}" in
    --timeout) timeout=(--timeout "${opts[i + 1]}"); i=$((i + 1)) ;;
    *) die "unknown option: ${opts[i]}" ;;
  esac
done
task="$basesubdir-$name"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
if [ -f "$sender" ]; then
  cp "$sender" "$work/$task.task.json"
elif [ -d "$sender" ]; then
  cp "$sender/data/sender/uploaded/$task.task.json" "$work/"
else
  scp -q "$sender:/data/sender/uploaded/$task.task.json" "$work/"
fi
bft2 recv "$work/$task.task.json" "${reactive[@]}"
answer="$(bft2 progress "$task" --wait ${timeout[@]+"${timeout[@]}"})"
# checkdcp: the daemon verified every file before storing it; this re-reads the store.
node -e '
  const [answer] = process.argv.slice(1);
  const a = JSON.parse(answer);
  const t = JSON.parse(require("fs").readFileSync(a.taskfullpath || a.taskfile, "utf8"));
  if (!a.dcppath) { console.error("checkdcp: progress gives no dcppath"); process.exit(1); }
  for (const f of t.filelist) console.log(`${f.hash}  ${a.dcppath}/${f.file}`);
' "$answer" >"$work/check.sha1"
sha1sum -c --quiet "$work/check.sha1"
echo "checkdcp: $(wc -l <"$work/check.sha1") files verified in $(node -p 'JSON.parse(process.argv[1]).dcppath' "$answer")"
