#!/usr/bin/env bash
# Installs bft2 from this checkout on Debian/Ubuntu (SPEC §10):
#   - copies the checkout into a release directory of its own, <prefix>/releases/<id>
#     (<id> = version + hash of the sources), installs the Node dependencies and builds
#     there, then switches <prefix>/current to it: a running daemon never sees a
#     half-built tree, and the old release stays until the next install;
#   - creates the directory tree under the root;
#   - writes <root>/etc/bft2/config.json from a commented template, only when there is none;
#   - installs the systemd unit (restart on failure), the logrotate file and the inotify
#     limits (/etc/sysctl.d/60-bft2-inotify.conf, applied at once on the real root);
#   - links <root>/usr/local/bin/bft2; the operator scripts are in <prefix>/current/ops.
# Idempotent: a second run with the same checkout changes nothing.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: ./install.sh [--root DIR] [--prefix DIR] [--from-checkout] [--no-systemctl]
  --root DIR        install under DIR instead of / (tests, chroots); systemd and logrotate
                    files then go to DIR/etc/..., and systemctl is not called
  --prefix DIR      install directory (default <root>/opt/bft2)
  --from-checkout   copy this checkout's node_modules (and dist, when up to date) instead
                    of running `npm ci` (offline, fast; also BFT2_INSTALL_FROM_CHECKOUT=1)
  --no-systemctl    do not call systemctl (daemon-reload, enable, restart)
EOF
}

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="/"
prefix=""
from_checkout="${BFT2_INSTALL_FROM_CHECKOUT:-0}"
use_systemctl=1
while [ $# -gt 0 ]; do
  case "$1" in
    --root) root="${2:?--root needs a directory}"; shift 2 ;;
    --prefix) prefix="${2:?--prefix needs a directory}"; shift 2 ;;
    --from-checkout) from_checkout=1; shift ;;
    --no-systemctl) use_systemctl=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "install.sh: unknown option: $1" >&2; usage >&2; exit 2 ;;
  esac
done
root="$(realpath -m "$root")"
r="${root%/}"                    # "" for /, so "$r/etc" is /etc
prefix="$(realpath -m "${prefix:-$r/opt/bft2}")"
[ "$root" = "/" ] || use_systemctl=0

say() { echo "install.sh: $*"; }

# --- Node.js: the engines range of package.json (>=20.17 <21 || >=22)
if ! node_version="$(node -p 'process.versions.node' 2>/dev/null)"; then
  echo "install.sh: bft2 needs Node.js 20.17+ or 22+ (none found; Debian/Ubuntu: see https://github.com/nodesource/distributions)" >&2
  exit 1
fi
if ! node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit((a===20&&b>=17)||a>=22?0:1)'; then
  echo "install.sh: bft2 needs Node.js 20.17+ or 22+ (found $node_version)" >&2
  exit 1
fi
if [ "$from_checkout" != 1 ] && ! command -v npm >/dev/null; then
  echo "install.sh: npm not found (it comes with Node.js)" >&2
  exit 1
fi

# --- the sources of a release: tracked and new files, not builds, tests, development tools
# (bench/, lab/, tools/: they need the dev dependencies, which a release prunes) or runtime state
list_sources() {
  if git -C "$repo" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git -C "$repo" ls-files -z --cached --others --exclude-standard
  else
    (cd "$repo" && find . -path ./node_modules -prune -o -path ./dist -prune -o -path ./.git -prune -o -type f -printf '%P\0')
  fi | grep -zv -e '^test/' -e '^bench/' -e '^lab/' -e '^tools/' -e '^spool/' -e '^\.ci/' | sort -z | while IFS= read -r -d '' f; do
    [ -f "$repo/$f" ] && printf '%s\0' "$f"   # deleted but still tracked: skip
  done
}
sources="$(mktemp)"
trap 'rm -f "$sources"' EXIT
list_sources >"$sources"
version="$(node -p "require('$repo/package.json').version")"
digest="$(cd "$repo" && xargs -0 sha1sum <"$sources" | sha1sum | cut -c1-12)"
id="$version-$digest"
release="$prefix/releases/$id"

# --- build the release beside the live one, then move it into place
if [ -f "$release/.bft2-release" ]; then
  say "release $id already built: $release"
else
  mkdir -p "$prefix/releases"
  work="$prefix/releases/.building-$id"
  rm -rf "$work"
  mkdir -p "$work"
  (cd "$repo" && tar --null -T "$sources" -cf -) | (cd "$work" && tar -xpf -)
  if [ "$from_checkout" = 1 ]; then
    [ -d "$repo/node_modules" ] || { echo "install.sh: --from-checkout: $repo/node_modules missing (run npm ci there)" >&2; exit 1; }
    say "copying node_modules from the checkout"
    cp -a --reflink=auto "$repo/node_modules" "$work/"
    if [ -f "$repo/dist/.built" ] && [ -z "$(find "$repo/src" -newer "$repo/dist/.built" -print -quit)" ]; then
      cp -a "$repo/dist" "$work/"
    else
      (cd "$work" && npm run --silent build)
    fi
  else
    say "npm ci in $work"
    (cd "$work" && npm ci --no-audit --no-fund)
    [ -f "$work/dist/.built" ] || (cd "$work" && npm run --silent build)
    # The build needed the dev dependencies (typescript); running needs none of them.
    (cd "$work" && npm prune --omit=dev --no-audit --no-fund >/dev/null)
  fi
  # dist/.built must stay newer than src/, or bin/bft2 would run the sources through tsx.
  touch "$work/dist/.built"
  echo "$id" >"$work/.bft2-release"
  mv -T "$work" "$release"
  say "built release $id"
fi

previous="$(readlink "$prefix/current" 2>/dev/null || true)"
switched=0
if [ "$previous" != "releases/$id" ]; then
  ln -sfn "releases/$id" "$prefix/current.new"
  mv -T "$prefix/current.new" "$prefix/current"
  switched=1
  say "current -> releases/$id${previous:+ (was $previous)}"
fi
# Keep the current release and the one before it.
for old in $(ls -1t "$prefix/releases" 2>/dev/null); do
  case "$old" in "$id"|"$(basename "${previous:-none}")"|.building-*) continue ;; esac
  rm -rf "${prefix:?}/releases/$old"
  say "removed old release $old"
done

# --- the directory tree under the root
for d in etc/bft2 var/log/bft2 var/lib/bft2/locks data/dcp data/transfer \
         data/receiver/{tmp,queues,downloading,downloaded,history} \
         data/sender/{tmp,queues,uploading,uploaded,history}; do
  mkdir -p "$r/$d"
done

# --- config.json: a template with placeholders, only when there is none
config="$r/etc/bft2/config.json"
if [ -e "$config" ]; then
  say "kept the existing $config"
else
  install -m 0600 "$repo/packaging/config.json.template" "$config"
  say "wrote a config template: $config (replace the <placeholders>, then: bft2 checkconfig)"
fi

# --- files whose content install.sh owns: written only when they differ
put() { # put MODE FILE < content
  local mode="$1" file="$2" tmp
  tmp="$(mktemp)"
  cat >"$tmp"
  if [ -f "$file" ] && cmp -s "$tmp" "$file"; then rm -f "$tmp"; return 1; fi
  mkdir -p "$(dirname "$file")"
  install -m "$mode" "$tmp" "$file"
  rm -f "$tmp"
  say "wrote $file"
}
unit_changed=0
sed -e "s|@PREFIX@|$prefix|g" -e "s|@ROOT@|$root|g" "$repo/packaging/bft2.service.in" \
  | put 0644 "$r/etc/systemd/system/bft2.service" && unit_changed=1
sed -e "s|@LOGDIR@|$r/var/log/bft2|g" "$repo/packaging/logrotate.in" \
  | put 0644 "$r/etc/logrotate.d/bft2" || true
# inotify limits: applied now on the real root (only ever raised), persisted for boots.
if put 0644 "$r/etc/sysctl.d/60-bft2-inotify.conf" <"$repo/packaging/sysctl.conf" && [ "$root" = / ]; then
  for key in fs.inotify.max_user_watches fs.inotify.max_user_instances; do
    want="$(sed -n "s/^$key = //p" "$repo/packaging/sysctl.conf")"
    have="$(sysctl -n "$key" 2>/dev/null || echo 0)"
    if [ "$have" -lt "$want" ]; then sysctl -q -w "$key=$want" >/dev/null 2>&1 && say "$key: $have -> $want" || say "could not raise $key (set it by hand: sysctl -w $key=$want)"; fi
  done
fi

# --- the command
mkdir -p "$r/usr/local/bin"
if [ "$(readlink "$r/usr/local/bin/bft2" 2>/dev/null)" != "$prefix/current/bin/bft2" ]; then
  ln -sfn "$prefix/current/bin/bft2" "$r/usr/local/bin/bft2"
  say "linked $r/usr/local/bin/bft2"
fi

# --- systemd (only on the real root, when systemd runs)
if [ "$use_systemctl" = 1 ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
  [ "$unit_changed" = 1 ] && systemctl daemon-reload
  systemctl is-enabled --quiet bft2.service 2>/dev/null || { systemctl enable bft2.service; say "enabled bft2.service"; }
  if [ "$switched" = 1 ] && systemctl is-active --quiet bft2.service; then
    systemctl restart bft2.service
    say "restarted bft2.service on release $id"
  elif ! systemctl is-active --quiet bft2.service; then
    say "start it when config.json is ready: bft2 checkconfig && systemctl start bft2"
  fi
fi

say "done. bft2 $version in $prefix/current; operator scripts: $prefix/current/ops/"
rootopt=""; [ "$root" = / ] || rootopt=" --root $root"
say "run by hand: $r/usr/local/bin/bft2$rootopt daemon --console"
