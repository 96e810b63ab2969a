# lib.sh - shell helpers the bench scripts share (sourced): a free TCP port, waiting for a server to accept.

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
