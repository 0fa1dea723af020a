#!/usr/bin/env bash
# Runs a command with no network but loopback: a fresh network namespace
# (`unshare -n`, root or user namespaces needed) whose `lo` is brought up first.
# Anything the command tries beyond 127.0.0.1 fails at once ("Network is
# unreachable") instead of leaving the machine, which proves the tests stay local.
#
#   tools/offline.sh --check          exit 0 when this machine can do it
#   tools/offline.sh CMD [ARGS...]    run CMD offline
set -euo pipefail

up_loopback() {
    if command -v ip >/dev/null 2>&1; then
        ip link set lo up
    else
        # No iproute2: set IFF_UP on lo with an ioctl (SIOCGIFFLAGS / SIOCSIFFLAGS).
        python3 - <<'PY'
import fcntl, socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
req = struct.pack("16sH", b"lo", 0)
flags = struct.unpack("16sH", fcntl.ioctl(s, 0x8913, req))[1]
fcntl.ioctl(s, 0x8914, struct.pack("16sH", b"lo", flags | 0x1))
PY
    fi
}

if [ "${1:-}" = "--inside" ]; then
    shift
    up_loopback
    exec "$@"
fi
if [ "${1:-}" = "--check" ]; then
    exec unshare -n bash "$0" --inside true 2>/dev/null
fi
if [ "$#" -eq 0 ]; then
    echo "usage: tools/offline.sh --check | CMD [ARGS...]" >&2
    exit 2
fi
exec unshare -n bash "$0" --inside "$@"
