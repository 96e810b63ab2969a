# lib.sh - shell helpers the bench scripts share (sourced): a free TCP port, waiting for a server to accept, installing missing packages.
# shellcheck shell=bash

free_port() {
    /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_port() {   # port, pid[, tenths of a second (300)]: until the server accepts, or it died
    for _ in $(seq 1 "${3:-300}"); do
        kill -0 "$2" 2>/dev/null || return 1
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# need_packages WHO PKG...: install the Debian packages that are missing (as root, with apt-get).
# Debian's postinst scripts would start the system-wide services (redis on 6379, a postgres cluster
# on 5432); the bench scripts run their own, so a temporary policy-rc.d says no (exit 101).
need_packages() {
    local who=$1 p missing=()
    shift
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -gt 0 ] || return 0
    echo "$who: installing ${missing[*]}"
    if [ "$(id -u)" != 0 ]; then
        echo "$who: need root to install ${missing[*]} (or install them first)" >&2
        exit 1
    fi
    local policy=
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        policy=/usr/sbin/policy-rc.d
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod 755 "$policy"
    fi
    local rc=0   # (an `if`, so that set -e in the caller cannot skip removing the policy file)
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }; then
        rc=1
    fi
    [ -z "$policy" ] || rm -f "$policy"
    [ $rc = 0 ] || { echo "$who: apt-get install ${missing[*]} failed" >&2; exit 1; }
}
