#!/bin/bash
# Starts / stops an isolated RabbitMQ node for the AMQP091 integration tests.
#
#   rabbitmq-test-node.sh start <dir> <amqp-port> [node-name] [dist-port]   # exits 0 when the node is ready
#   rabbitmq-test-node.sh ctl   <dir> <rabbitmqctl arguments...>             # e.g. stop_app, start_app
#   rabbitmq-test-node.sh stop  <dir>
#
# Everything (HOME with .erlang.cookie, config, mnesia, logs, pid file) lives
# under <dir>. Defaults: AMQP port 15679, node name sluicetest@localhost,
# distribution port 25673; the name and distribution port can also come from
# RABBITMQ_TEST_NODENAME / RABBITMQ_TEST_DIST_PORT (the arguments win).
# `start` writes them to <dir>/node.env, which `ctl` and `stop` read, so they
# talk to that node only. The lines of <dir>/extra.conf (listeners, TLS, ...)
# are appended to the configuration, and <dir>/setup.sh (if present) runs with
# rabbitmqctl on PATH once the node is up.
set -u
cmd=${1:?start|ctl|stop}
dir=${2:?directory}
node_name=${RABBITMQ_TEST_NODENAME:-sluicetest@localhost}
dist_port=${RABBITMQ_TEST_DIST_PORT:-25673}
RMQ_BIN=/usr/lib/rabbitmq/bin

if [ "$cmd" = start ]; then
    port=${3:-15679}
    node_name=${4:-$node_name}
    dist_port=${5:-$dist_port}
elif [ -f "$dir/node.env" ]; then
    # shellcheck disable=SC1091
    . "$dir/node.env"
fi

setenv() {
    export HOME="$dir/home"
    export RABBITMQ_NODENAME=$node_name
    export RABBITMQ_CONFIG_FILE="$dir/rabbitmq"
    export RABBITMQ_MNESIA_BASE="$dir/mnesia"
    export RABBITMQ_LOG_BASE="$dir/log"
    export RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins"
    export RABBITMQ_DIST_PORT=$dist_port
    export RABBITMQ_PID_FILE="$dir/rabbitmq.pid"
    export RABBITMQ_CONF_ENV_FILE="$dir/rabbitmq-env.conf"
}

case "$cmd" in
start)
    if [ ! -x "$RMQ_BIN/rabbitmq-server" ]; then
        echo "rabbitmq-server is not installed at $RMQ_BIN (apt-get install -y rabbitmq-server)" >&2
        exit 2
    fi
    mkdir -p "$dir/home" "$dir/mnesia" "$dir/log"
    printf 'node_name=%s\ndist_port=%s\n' "$node_name" "$dist_port" > "$dir/node.env"
    setenv
    if [ ! -f "$HOME/.erlang.cookie" ]; then
        head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$HOME/.erlang.cookie"
        chmod 400 "$HOME/.erlang.cookie"
    fi
    : > "$RABBITMQ_ENABLED_PLUGINS_FILE"
    : > "$RABBITMQ_CONF_ENV_FILE"
    cat > "$dir/rabbitmq.conf" <<CONF
listeners.tcp.1 = 127.0.0.1:$port
default_user = sluice
default_pass = sluice-pass
loopback_users = none
vm_memory_high_watermark.absolute = 512MiB
disk_free_limit.absolute = 100MB
distribution.listener.interface = 127.0.0.1
CONF
    if [ -f "$dir/extra.conf" ]; then cat "$dir/extra.conf" >> "$dir/rabbitmq.conf"; fi
    nohup "$RMQ_BIN/rabbitmq-server" > "$dir/log/console.log" 2>&1 < /dev/null &
    echo $! > "$dir/launcher.pid"
    deadline=$(( $(date +%s) + 120 ))
    # 1. wait for the AMQP port
    until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
        if ! kill -0 "$(cat "$dir/launcher.pid")" 2>/dev/null; then
            echo "rabbitmq-server exited; last log lines:" >&2; tail -20 "$dir/log/console.log" >&2; exit 1
        fi
        if [ "$(date +%s)" -ge "$deadline" ]; then
            echo "timed out waiting for port $port; last log lines:" >&2; tail -20 "$dir/log/console.log" >&2; exit 1
        fi
        sleep 0.5
    done
    # 2. await_startup (fails at once until the node registered: retry)
    until "$RMQ_BIN/rabbitmqctl" -q await_startup --timeout 10 >/dev/null 2>&1; do
        if [ "$(date +%s)" -ge "$deadline" ]; then
            echo "rabbitmqctl await_startup did not succeed within 120 s" >&2; tail -20 "$dir/log/console.log" >&2; exit 1
        fi
        sleep 1
    done
    if [ -f "$dir/setup.sh" ]; then
        PATH="$RMQ_BIN:$PATH" bash "$dir/setup.sh" >> "$dir/log/console.log" 2>&1 || { echo "setup.sh failed" >&2; tail -20 "$dir/log/console.log" >&2; exit 1; }
    fi
    exit 0
    ;;
ctl)
    setenv
    shift 2
    exec "$RMQ_BIN/rabbitmqctl" "$@"
    ;;
stop)
    setenv
    "$RMQ_BIN/rabbitmqctl" -q shutdown --timeout 20 >/dev/null 2>&1
    for f in "$dir/rabbitmq.pid" "$dir/launcher.pid"; do
        if [ -f "$f" ]; then
            pid=$(cat "$f")
            [ -n "$pid" ] && kill "$pid" 2>/dev/null
        fi
    done
    # The node started epmd; stop it too unless another Erlang node uses it.
    if command -v epmd >/dev/null 2>&1 && ! epmd -names 2>/dev/null | grep -q '^name '; then
        epmd -kill >/dev/null 2>&1
    fi
    exit 0
    ;;
*)
    echo "usage: $0 start <dir> [port] [node-name] [dist-port] | ctl <dir> <args...> | stop <dir>" >&2; exit 2;;
esac
