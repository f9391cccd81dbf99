#!/usr/bin/env bash
# Installs or upgrades seqr-vend as a systemd service on Raspberry Pi OS (Lite, Bookworm or
# later). Idempotent; the configuration, credentials and ledger are never overwritten. Installs
# what `npm run package` ships (the build, production dependencies only), from either:
#   a release artefact:  tar xzf seqr-vend-X.tgz && sudo seqr-vend-X/systemd/install.sh
#                        or  sudo systemd/install.sh --artefact seqr-vend-X.tgz  (checks its .sha256)
#   a built checkout:    npm ci && npm run build && sudo systemd/install.sh
#
#   sudo systemd/install.sh [--no-start] [--password-file FILE] [--node PATH] [--npm PATH]
#   systemd/install.sh --root DIR       # lay the files out under DIR; commands are only logged
#
# --root DIR (or DESTDIR=DIR): install into a throwaway root without touching the running system.
# useradd, chown, systemctl, udevadm ... are not run there but appended to DIR/install-commands.log.
# Native addons (better-sqlite3, epoll, rpio, ...) built for another Node.js or CPU are rebuilt
# with npm (needs python3, make, g++: see OPERATOR.md).
set -euo pipefail

PREFIX=/opt/seqr-vend
NODE_MIN=20.19
ROOT="${DESTDIR:-/}"
SOURCE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NODE="$(command -v node || true)"
NPM=
ARTEFACT=
START=yes
PASSWORD_FILE=
ARGS=("$@")

usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; }
die() { echo "install.sh: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
  case "$1" in
    --root) ROOT="${2:?--root needs a directory}"; shift 2 ;;
    --source) SOURCE="${2:?--source needs a directory}"; shift 2 ;;
    --node) NODE="${2:?--node needs a path}"; shift 2 ;;
    --npm) NPM="${2:?--npm needs a path}"; shift 2 ;;
    --artefact) ARTEFACT="${2:?--artefact needs a .tgz file}"; shift 2 ;;
    --password-file) PASSWORD_FILE="${2:?--password-file needs a file}"; shift 2 ;;
    --no-start) START=no; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done

# --artefact FILE: check it against FILE.sha256, unpack it, and run the installer it contains
# (the one that matches its files) with the other options.
if [ -n "$ARTEFACT" ]; then
  [ -f "$ARTEFACT" ] || die "no artefact $ARTEFACT"
  if [ -f "$ARTEFACT.sha256" ]; then
    (cd "$(dirname "$ARTEFACT")" && sha256sum --check --quiet "$(basename "$ARTEFACT").sha256") ||
      die "$ARTEFACT does not match $ARTEFACT.sha256: download it again"
  else
    echo "install.sh: no $ARTEFACT.sha256 beside the artefact: its checksum is not checked" >&2
  fi
  unpacked="$(mktemp -d)"
  trap 'rm -rf "$unpacked"' EXIT
  tar -xzf "$ARTEFACT" -C "$unpacked" || die "cannot unpack $ARTEFACT"
  inner=("$unpacked"/*/systemd/install.sh)
  [ -f "${inner[0]}" ] || die "$ARTEFACT is not a seqr-vend release (no systemd/install.sh)"
  rest=()
  skip=no
  for arg in "${ARGS[@]}"; do
    if [ "$skip" = yes ]; then skip=no; continue; fi
    if [ "$arg" = --artefact ]; then skip=yes; continue; fi
    rest+=("$arg")
  done
  bash "${inner[0]}" "${rest[@]}"
  exit $?
fi

ROOT="${ROOT%/}"
if [ -z "$ROOT" ]; then DRY=no; else DRY=yes; fi
LOG="$ROOT/install-commands.log"
[ "$DRY" = yes ] && mkdir -p "$ROOT" && : >"$LOG"

# A command that changes the running system: run it, or only log it under --root.
run() {
  if [ "$DRY" = yes ]; then echo "$*" >>"$LOG"; else "$@"; fi
}
has_group() {
  if [ "$DRY" = yes ]; then grep -q "^$1:" "$ROOT/etc/group" 2>/dev/null; else getent group "$1" >/dev/null; fi
}
has_user() {
  if [ "$DRY" = yes ]; then grep -q "^$1:" "$ROOT/etc/passwd" 2>/dev/null; else id -u "$1" >/dev/null 2>&1; fi
}
# mkdir + mode + owner, idempotent.
directory() { # mode owner path
  mkdir -p "$ROOT$3"
  chmod "$1" "$ROOT$3"
  run chown "$2" "$3"
}

[ "$DRY" = yes ] || [ "$(id -u)" -eq 0 ] || die "run as root (sudo), or use --root DIR for a trial run"

# 1. Node.js >= 20.19 (Debian's own nodejs is too old: use NodeSource or the official build).
[ -n "$NODE" ] && [ -x "$NODE" ] || die "node not found: install Node.js $NODE_MIN or newer (see systemd/OPERATOR.md)"
version="$("$NODE" --version 2>/dev/null | sed 's/^v//')"
major="${version%%.*}"; rest="${version#*.}"; minor="${rest%%.*}"
if ! [[ "$major" =~ ^[0-9]+$ && "$minor" =~ ^[0-9]+$ ]] || [ "$major" -lt 20 ] || { [ "$major" -eq 20 ] && [ "$minor" -lt 19 ]; }; then
  die "Node.js $NODE_MIN or newer is required, $NODE is ${version:-unknown}"
fi

# 2. What to install: a release tree (an unpacked artefact: release.json) or a built checkout.
if [ -f "$SOURCE/release.json" ]; then
  KIND=release
else
  KIND=checkout
  [ -f "$SOURCE/dist/daemon/main.js" ] || die "no build in $SOURCE/dist: run npm ci && npm run build first"
fi
for f in package.json systemd/seqr-vend.service systemd/99-seqr-vend.rules config/example.config.yaml; do
  [ -f "$SOURCE/$f" ] || die "missing $SOURCE/$f"
done

# 3. Device groups (missing on a stock Debian box: the unit's SupplementaryGroups= would fail
#    with status 216/GROUP) and the dedicated system user.
for group in gpio video lp dialout seqr-vend; do
  has_group "$group" || run groupadd --system "$group"
done
if ! has_user seqr-vend; then
  run useradd --system --gid seqr-vend --home-dir /var/lib/seqr-vend --no-create-home \
    --shell /usr/sbin/nologin --comment "seqr-vend vending terminal" seqr-vend
fi
run usermod --append --groups gpio,video,lp,dialout seqr-vend

# 4. Code, staged beside the installed copy, checked, then swapped in as a whole (root-owned,
#    read-only to the service).
mkdir -p "$ROOT$(dirname "$PREFIX")"
staging="$ROOT$PREFIX.new"
rm -rf "$staging"
if [ "$KIND" = release ]; then
  mkdir -p "$staging"
  cp -a "$SOURCE/." "$staging/"
else
  "$NODE" "$SOURCE/systemd/package.mjs" --stage "$staging" || die "cannot stage the build from $SOURCE"
fi

# The native addons must load in this Node.js on this CPU; rebuild them when they do not (an
# artefact built on another machine or for another Node.js line).
natives="$("$NODE" -p 'require(process.argv[1]).natives.join(" ")' "$staging/release.json")"
natives_load() {
  (cd "$staging" && "$NODE" -e '
    const path = require("node:path"), fs = require("node:fs");
    let failed = 0;
    for (const name of process.argv.slice(1)) {
      const release = path.join("node_modules", name, "build", "Release");
      const addons = fs.existsSync(release) ? fs.readdirSync(release).filter((f) => f.endsWith(".node")) : [];
      if (addons.length === 0) { console.error(`${name}: not built`); failed++; }
      for (const addon of addons) {
        try { require(path.resolve(release, addon)); }
        catch (err) { console.error(`${name}: ${err.message.split("\n")[0]}`); failed++; }
      }
    }
    process.exit(failed === 0 ? 0 : 1);
  ' $natives)
}
if ! why="$(natives_load 2>&1)"; then
  echo "install.sh: native addons do not load in $NODE: $(echo "$why" | tr '\n' ' ')" >&2
  echo "install.sh: rebuilding $natives with npm (minutes on a Pi)" >&2
  if [ -z "$NPM" ]; then
    if [ -x "$(dirname "$NODE")/npm" ]; then NPM="$(dirname "$NODE")/npm"; else NPM="$(command -v npm || true)"; fi
  fi
  [ -n "$NPM" ] || die "npm not found: install it (apt install npm) or pass --npm PATH"
  (cd "$staging" && PATH="$(dirname "$NODE"):$PATH" "$NPM" rebuild --foreground-scripts $natives) >&2 ||
    die "rebuilding the native addons failed: install the build tools (apt install python3 make g++) and run install.sh again"
  natives_load || die "the native addons still do not load after the rebuild (see above)"
fi

chmod -R u=rwX,go=rX "$staging"
rm -rf "$ROOT$PREFIX.old"
[ -d "$ROOT$PREFIX" ] && mv "$ROOT$PREFIX" "$ROOT$PREFIX.old"
mv "$staging" "$ROOT$PREFIX"
rm -rf "$ROOT$PREFIX.old"
run chown -R root:root "$PREFIX"

mkdir -p "$ROOT/usr/local/bin"
cat >"$ROOT/usr/local/bin/seqr-vend" <<EOF
#!/bin/sh
exec $NODE --enable-source-maps $PREFIX/dist/daemon/main.js "\$@"
EOF
chmod 0755 "$ROOT/usr/local/bin/seqr-vend"

# 5. Directories: configuration readable by the service, credentials root-only, state owned by it.
directory 0755 root:root /etc/seqr-vend
directory 0700 root:root /etc/seqr-vend/credentials
directory 0750 seqr-vend:seqr-vend /var/lib/seqr-vend

config="/etc/seqr-vend/config.yaml"
new_config=no
if [ ! -e "$ROOT$config" ]; then
  cp "$SOURCE/config/example.config.yaml" "$ROOT$config"
  new_config=yes
fi
chmod 0640 "$ROOT$config"
run chown root:seqr-vend "$config"

# 6. Credentials (LoadCredential= needs the files to exist). An empty terminal password makes a
#    production daemon stop with exit 78 and a message saying how to set it.
for name in seqr-terminal-password seqr-reseller-password fleet-password; do
  file="$ROOT/etc/seqr-vend/credentials/$name"
  if [ "$name" = seqr-terminal-password ] && [ -n "$PASSWORD_FILE" ]; then
    (umask 077 && tr -d '\n' <"$PASSWORD_FILE" >"$file.tmp" && mv "$file.tmp" "$file")
  elif [ ! -e "$file" ]; then
    (umask 077 && : >"$file")
  fi
  chmod 0600 "$file"
  run chown root:root "/etc/seqr-vend/credentials/$name"
done

# 7. Unit (pointing at this node), udev rule for /dev/seqr-printer, console cursor off at boot.
mkdir -p "$ROOT/etc/systemd/system" "$ROOT/etc/udev/rules.d" "$ROOT/etc/tmpfiles.d"
sed -e "s#/usr/bin/node #$NODE #g" -e "s#/opt/seqr-vend/#$PREFIX/#g" \
  "$SOURCE/systemd/seqr-vend.service" >"$ROOT/etc/systemd/system/seqr-vend.service"
chmod 0644 "$ROOT/etc/systemd/system/seqr-vend.service"
install -m 0644 "$SOURCE/systemd/99-seqr-vend.rules" "$ROOT/etc/udev/rules.d/99-seqr-vend.rules"
printf '%s\n' '# seqr-vend kiosk: no blinking console cursor on the display' \
  'w /sys/class/graphics/fbcon/cursor_blink - - - - 0' >"$ROOT/etc/tmpfiles.d/seqr-vend-kiosk.conf"
chmod 0644 "$ROOT/etc/tmpfiles.d/seqr-vend-kiosk.conf"
run udevadm control --reload
run udevadm trigger --subsystem-match=usbmisc

# 8. Kiosk console: no screen blanking, no cursor, quiet boot, no login prompt on the display.
for cmdline in "$ROOT/boot/firmware/cmdline.txt" "$ROOT/boot/cmdline.txt"; do
  [ -f "$cmdline" ] || continue
  [ -L "$cmdline" ] && continue
  line="$(head -n 1 "$cmdline")"
  for token in consoleblank=0 vt.global_cursor_default=0 quiet; do
    case " $line " in *" $token "*) ;; *) line="$line $token" ;; esac
  done
  printf '%s\n' "$line" >"$cmdline.new" && mv "$cmdline.new" "$cmdline"
  break
done
run systemctl mask getty@tty1.service

# 9. Start (or restart after an upgrade).
run systemctl daemon-reload
run systemctl unmask seqr-vend.service
run systemctl enable seqr-vend.service
if [ "$START" = yes ]; then
  if [ "$DRY" = yes ]; then
    run systemctl restart seqr-vend.service
  elif "$NODE" "$PREFIX/dist/daemon/main.js" check-config --config "$config"; then
    systemctl restart seqr-vend.service
  else
    echo "install.sh: $config needs attention (above); fix it, then: systemctl restart seqr-vend" >&2
  fi
fi

echo "seqr-vend installed in $ROOT$PREFIX"
[ "$new_config" = yes ] && echo "edit $config (an example was copied there), then: seqr-vend check-config"
if [ ! -s "$ROOT/etc/seqr-vend/credentials/seqr-terminal-password" ]; then
  echo "no terminal password yet: run  seqr-vend register-terminal  (or install.sh --password-file FILE)"
fi
exit 0
