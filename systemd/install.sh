#!/usr/bin/env bash
# Installs or upgrades seqr-vend as a systemd service on Raspberry Pi OS (Lite, Bookworm or
# later). Idempotent: run it again after `git pull && npm ci && npm run build` to upgrade; the
# configuration, credentials and ledger are never overwritten.
#
#   sudo systemd/install.sh [--no-start] [--password-file FILE] [--node PATH]
#   systemd/install.sh --root DIR       # lay the files out under DIR; commands are only logged
#
# --root DIR (or DESTDIR=DIR): install into a throwaway root without touching the running system.
# useradd, chown, systemctl, udevadm ... are not run there but appended to DIR/install-commands.log.
set -euo pipefail

PREFIX=/opt/seqr-vend
NODE_MIN=20.19
ROOT="${DESTDIR:-/}"
SOURCE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NODE="$(command -v node || true)"
START=yes
PASSWORD_FILE=

usage() { sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; }
die() { echo "install.sh: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
  case "$1" in
    --root) ROOT="${2:?--root needs a directory}"; shift 2 ;;
    --source) SOURCE="${2:?--source needs a directory}"; shift 2 ;;
    --node) NODE="${2:?--node needs a path}"; shift 2 ;;
    --password-file) PASSWORD_FILE="${2:?--password-file needs a file}"; shift 2 ;;
    --no-start) START=no; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done

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

# 2. The build to install.
[ -f "$SOURCE/dist/daemon/main.js" ] || die "no build in $SOURCE/dist: run npm ci && npm run build first"
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

# 4. Code, replaced as a whole (root-owned, read-only to the service).
mkdir -p "$ROOT$(dirname "$PREFIX")"
staging="$ROOT$PREFIX.new"
rm -rf "$staging"
mkdir -p "$staging/systemd" "$staging/config"
cp -a "$SOURCE/dist" "$SOURCE/package.json" "$staging/"
[ -d "$SOURCE/node_modules" ] && cp -a "$SOURCE/node_modules" "$staging/"
cp -a "$SOURCE/systemd/." "$staging/systemd/"
cp -a "$SOURCE/config/example.config.yaml" "$staging/config/"
[ -f "$SOURCE/config/config.schema.json" ] && cp -a "$SOURCE/config/config.schema.json" "$staging/config/"
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
