# Shared steps of the ecosystem scripts: build berth, link it as berth-runc, start the local
# registry with busybox. Source it from scripts/ecosystem/*; run as root from anywhere.
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/lib.sh

# setup PACKAGES...: installs the peer's Debian packages, builds berth and the test kit, and
# sets WORK (a temp dir), RUNC (the berth-runc link) and BUSYBOX (an image in the registry).
setup() {
  scripts/deps
  local missing=()
  for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  fi
  local bin; bin=$(scripts/build)
  cargo build --release --locked -q -p berth-testkit
  WORK=$(mktemp -d /tmp/berth-ecosystem.XXXXXX)
  RUNC="$WORK/berth-runc"
  ln "$PWD/$bin" "$RUNC" 2>/dev/null || cp "$PWD/$bin" "$RUNC"
  start_registry
}

# expect WHAT WANT_CODE WANT_TEXT CMD...: runs CMD, checks its exit code and output.
expect() {
  local what=$1 want_code=$2 want_text=$3; shift 3
  local out code=0
  out=$("$@" 2>&1) || code=$?
  if [ "$code" != "$want_code" ] || ! grep -q -- "$want_text" <<<"$out"; then
    echo "FAIL: $what (exit $code, want $want_code and '$want_text'):"; echo "$out"; exit 1
  fi
  echo "ok: $what"
}
