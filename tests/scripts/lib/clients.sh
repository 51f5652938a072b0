# clients.sh — helpers sourced (not run) by the client tests that drive berth through podman and
# Docker (tests/scripts/podman.sh, docker.sh). The sourcing script defines `fail` and `$calls`,
# the file its runtime wrapper logs every berth command line to.

# called OP ID: the runtime saw `OP ... ID`.
called() { grep -qE "(^| )$1 .*$2\$" "$calls" || fail "runtime was not called with '$1 ... $2'"; }

# in_tty CMD: run CMD under a pty of 30 rows x 100 columns; prints its output without CRs and
# without the "^@" the pty echoes for a NUL byte the client (or conmon) writes to it.
in_tty() {
    script -qec "stty rows 30 cols 100; $1" /dev/null | sed -e 's/\r$//' -e 's/\^@//g'
    return "${PIPESTATUS[0]}"
}

# In a container on a terminal: waits (up to 10 s) until the client has set the window size to
# in_tty's, then prints the terminal and its size. Clients set it only after the start (with runc
# too), and podman attaches only then: what is printed before goes only to the log.
# shellcheck disable=SC2016 # expanded by the container's shell
tty_report='i=0; while [ "$(stty size)" != "30 100" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; tty; stty size'

# wait_catches PID SIGNUM: waits up to 10 s until process PID handles signal SIGNUM (a shell's
# trap is set): a namespace's PID 1 without a handler drops the signal.
wait_catches() {
    local caught
    for _ in $(seq 200); do
        caught=$(awk '$1 == "SigCgt:" { print $2 }' "/proc/$1/status" 2>/dev/null) || true
        [ -n "$caught" ] && (( (16#$caught >> ($2 - 1)) & 1 )) && return 0
        sleep 0.05
    done
    return 1
}

# http_get ADDR PORT: the body of GET / from ADDR:PORT, retried for up to 5 s while the server
# starts (bash's /dev/tcp: Debian's static busybox wget crashes on this host).
http_get() {
    local body
    for _ in $(seq 50); do
        # shellcheck disable=SC2016 # expanded by the inner bash
        body=$(timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2" && printf "GET / HTTP/1.0\r\n\r\n" >&3 &&
                                   cat <&3' _ "$1" "$2" 2>/dev/null | tail -n 1) && [ -n "$body" ] &&
            { echo "$body"; return 0; }
        sleep 0.1
    done
    return 1
}
