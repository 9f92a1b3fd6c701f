# Shared by the operator scripts (sourced, not run). They are thin wrappers of the bft2
# command with the seed's argument order (seed §6.3); everything they do, bft2 does.
#   BFT2       the bft2 command (default: this checkout's or release's launcher, ../bin/bft2)
#   BFT2_ROOT  the root prefix, as for bft2 (or --root DIR as first argument)
set -euo pipefail
ops_dir="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)"
BFT2="${BFT2:-$ops_dir/../bin/bft2}"
root="${BFT2_ROOT:-/}"
pos=()   # positional arguments
opts=()  # options passed on to bft2 (--wait, --timeout S, ...)

# Takes --root DIR and -h/--help (calls `usage`) from anywhere; sorts the rest into pos
# and opts. Exits with the usage when the number of positionals is not MIN..MAX.
parse_common() {
  local min="$1" max="$2"
  shift 2
  while [ $# -gt 0 ]; do
    case "$1" in
      --root) root="${2:?--root needs a directory}"; shift 2 ;;
      -h|--help) usage; exit 0 ;;
      --timeout|--interval) opts+=("$1" "${2:?$1 needs a value}"); shift 2 ;;
      -*) opts+=("$1"); shift ;;
      *) pos+=("$1"); shift ;;
    esac
  done
  if [ ${#pos[@]} -lt "$min" ] || [ ${#pos[@]} -gt "$max" ]; then usage >&2; exit 1; fi
  export BFT2_ROOT="$root"
}

bft2() { "$BFT2" --root "$root" "$@"; }

# NAME BASESUBDIR → BASESUBDIR-NAME; a lone argument is the task name itself.
task_of() { if [ -n "${2:-}" ]; then echo "$2-$1"; else echo "$1"; fi; }

# A key of <root>/etc/bft2/config.json ("" when absent).
config_value() {
  node -e 'const c = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); const v = c[process.argv[2]]; process.stdout.write(v === undefined || v === null ? "" : String(v));' \
    "${root%/}/etc/bft2/config.json" "$1"
}

die() { echo "$(basename "$0"): $*" >&2; exit 1; }
