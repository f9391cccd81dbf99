#!/usr/bin/env bash
# Removes the seqr-vend service. Keeps the ledger (/var/lib/seqr-vend), the configuration and
# credentials (/etc/seqr-vend) and the seqr-vend user unless --purge is given.
#
#   sudo systemd/uninstall.sh [--purge]
#   systemd/uninstall.sh --root DIR [--purge]   # act on files under DIR; commands only logged
set -euo pipefail

PREFIX=/opt/seqr-vend
ROOT="${DESTDIR:-/}"
PURGE=no

die() { echo "uninstall.sh: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
  case "$1" in
    --root) ROOT="${2:?--root needs a directory}"; shift 2 ;;
    --purge) PURGE=yes; shift ;;
    -h | --help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done

ROOT="${ROOT%/}"
if [ -z "$ROOT" ]; then DRY=no; else DRY=yes; fi
LOG="$ROOT/install-commands.log"
[ "$DRY" = yes ] || [ "$(id -u)" -eq 0 ] || die "run as root (sudo), or use --root DIR"

run() {
  if [ "$DRY" = yes ]; then echo "$*" >>"$LOG"; else "$@"; fi
}
# Commands whose failure (service already gone) does not matter.
try() {
  if [ "$DRY" = yes ]; then echo "$*" >>"$LOG"; else "$@" 2>/dev/null || true; fi
}

try systemctl disable --now seqr-vend.service
rm -f "$ROOT/etc/systemd/system/seqr-vend.service" \
  "$ROOT/etc/udev/rules.d/99-seqr-vend.rules" \
  "$ROOT/etc/tmpfiles.d/seqr-vend-kiosk.conf" \
  "$ROOT/usr/local/bin/seqr-vend"
rm -rf "$ROOT$PREFIX" "$ROOT$PREFIX.new" "$ROOT$PREFIX.old"
try systemctl unmask getty@tty1.service
run systemctl daemon-reload
try systemctl reset-failed seqr-vend.service
run udevadm control --reload

if [ "$PURGE" = yes ]; then
  rm -rf "$ROOT/var/lib/seqr-vend" "$ROOT/etc/seqr-vend"
  try userdel seqr-vend
  try groupdel seqr-vend
  echo "seqr-vend removed, including its ledger, configuration and credentials"
else
  echo "seqr-vend removed; kept /var/lib/seqr-vend (ledger) and /etc/seqr-vend (config, credentials)"
  echo "remove them too with: uninstall.sh --purge"
fi
