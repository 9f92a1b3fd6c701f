#!/usr/bin/env bash
# Installs bft2 from this checkout: Node dependencies, the directory tree and a config
# template under a root (default /). Idempotent: an existing config.json is never
# overwritten. The systemd unit and log rotation come with the install issue.
#   ./install.sh [--root DIR]
set -euo pipefail
repo="$(cd "$(dirname "$0")" && pwd)"
root="/"
while [ $# -gt 0 ]; do
  case "$1" in
    --root) root="$2"; shift 2 ;;
    *) echo "usage: $0 [--root DIR]" >&2; exit 2 ;;
  esac
done

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  echo "bft2 needs Node.js 20 or newer (found: $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi
(cd "$repo" && npm ci --no-audit --no-fund)

for d in etc/bft2 var/log/bft2 var/lib/bft2/locks data/dcp data/transfer \
         data/receiver/{tmp,queues,downloading,downloaded,history} \
         data/sender/{tmp,queues,uploading,uploaded,history}; do
  mkdir -p "$root/$d"
done
if [ ! -e "$root/etc/bft2/config.json" ]; then
  cp "$repo/spool/etc/bft2/config.json" "$root/etc/bft2/config.json"
  echo "wrote a config template: $root/etc/bft2/config.json (edit servertype, urls, windows)"
else
  echo "kept the existing $root/etc/bft2/config.json"
fi
echo "installed. Run: $repo/scripts/bft2 --root $root daemon"
