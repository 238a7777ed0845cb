# Helpers for guest scripts of Cloak's VM test tier (busybox sh). Source with
#   . /cloak/lib.sh
# Secrets are generated here, in the guest, into tmpfs (/run/cloak-keys). The scenario's
# key holder (a process on the host, reached through the restricted guest network) keeps
# them in memory between boots, so no key ever lands in a host file.

KEYDIR=/run/cloak-keys

step() { echo "== $*"; }

fail() {
  echo "FAIL: $*"
  exit 1
}

# expect_fail CMD...: runs CMD, fails the script if CMD succeeds.
expect_fail() {
  if "$@"; then
    fail "expected failure, but succeeded: $*"
  fi
  return 0
}

# key_new NAME BYTES: a fresh random key in $KEYDIR/NAME, handed to the key holder.
key_new() {
  mkdir -p -m 0700 "$KEYDIR"
  dd if=/dev/urandom of="$KEYDIR/$1" bs="$2" count=1 2>/dev/null || fail "key_new $1"
  key_put "$1" "$KEYDIR/$1"
}

# key_put NAME FILE: stores FILE's bytes in the key holder under NAME.
key_put() {
  [ -n "${CLOAK_KEYHOLDER:-}" ] || fail "no key holder; boot with keyholder=True"
  reply=$({ echo "PUT $1 $(stat -c %s "$2")"; cat "$2"; } |
    nc "${CLOAK_KEYHOLDER%:*}" "${CLOAK_KEYHOLDER#*:}")
  [ "$reply" = OK ] || fail "key holder refused PUT $1: $reply"
}

# key_get NAME: fetches NAME from the key holder into $KEYDIR/NAME.
key_get() {
  [ -n "${CLOAK_KEYHOLDER:-}" ] || fail "no key holder; boot with keyholder=True"
  mkdir -p -m 0700 "$KEYDIR"
  echo "GET $1" | nc "${CLOAK_KEYHOLDER%:*}" "${CLOAK_KEYHOLDER#*:}" > "$KEYDIR/$1.tmp" ||
    fail "key_get $1"
  [ -s "$KEYDIR/$1.tmp" ] || fail "key holder has no key $1"
  mv "$KEYDIR/$1.tmp" "$KEYDIR/$1"
}

# report NAME FILE: hands a non-secret sample (e.g. ciphertext) to the host; same channel.
report() { key_put "$@"; }
