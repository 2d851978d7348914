# A RabbitMQ node of the bench's own: sluicebench@localhost, AMQP on 127.0.0.1:$RABBITMQ_PORT
# (15700), distribution port 25700, user sluice / sluice-pass, vhost /. Started and stopped with
# the AMQP091 tests' script (Tests/AMQP091Tests/rabbitmq-test-node.sh), its files in
# $OUT/rabbitmq. Changed from the tests' node: memory high watermark 2 GiB (1000 connections and
# queues), Erlang schedulers without busy-waiting (+sbwt none: on 2 cores, spinning schedulers
# take CPU from Sluice and the load generators).

RABBITMQ_PORT=15700
RABBITMQ_DIST_PORT=25700
RABBITMQ_NODE=sluicebench@localhost
RABBITMQ_USER=sluice
RABBITMQ_PASSWORD=sluice-pass
RABBITMQ_EXCHANGE=bench.x
RABBITMQ_ROUTING_KEY=bench
RABBITMQ_SINK=bench.sink
RABBITMQ_SINK_LENGTH=1000
# BENCH_RABBITMQ_ERL_ARGS="" keeps Erlang's default (busy-waiting schedulers).
RABBITMQ_ERL_ARGS=${BENCH_RABBITMQ_ERL_ARGS-+sbwt none +sbwtdcpu none +sbwtdio none}
RABBITMQ_PID=""
RABBITMQ_DIR=""

rabbitmq_script() { "$REPO/Tests/AMQP091Tests/rabbitmq-test-node.sh" "$@"; }

rabbitmq_start() {
  RABBITMQ_DIR="$OUT/rabbitmq"
  if (exec 3<>"/dev/tcp/127.0.0.1/$RABBITMQ_PORT") 2>/dev/null; then
    log "port $RABBITMQ_PORT is taken (an earlier bench left running?)"
    exit 1
  fi
  mkdir -p "$RABBITMQ_DIR"
  echo "vm_memory_high_watermark.absolute = 2GiB" >"$RABBITMQ_DIR/extra.conf"
  log "starting RabbitMQ $RABBITMQ_NODE on :$RABBITMQ_PORT (10-20 s)"
  RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="$RABBITMQ_ERL_ARGS" \
    rabbitmq_script start "$RABBITMQ_DIR" "$RABBITMQ_PORT" "$RABBITMQ_NODE" "$RABBITMQ_DIST_PORT" >>"$OUT/rabbitmq.log" 2>&1 || {
    tail -20 "$OUT/rabbitmq.log" >&2
    log "RabbitMQ did not start (logs: $RABBITMQ_DIR/log)"
    exit 1
  }
  RABBITMQ_PID=$(cat "$RABBITMQ_DIR/rabbitmq.pid" 2>/dev/null || true)
  [ -n "$RABBITMQ_PID" ] && kill -0 "$RABBITMQ_PID" 2>/dev/null || { log "no pid for the RabbitMQ node"; exit 1; }
}

# Restarts RabbitMQ if it died since the previous workload (noted in the table's notes).
rabbitmq_ensure() {
  if [ -n "$RABBITMQ_PID" ] && ! kill -0 "$RABBITMQ_PID" 2>/dev/null; then
    note "RabbitMQ exited before $1; restarted"
    rabbitmq_stop
    rabbitmq_start
    rabbitmq_sink
  fi
}

rabbitmq_stop() {
  [ -n "$RABBITMQ_DIR" ] || return 0
  rabbitmq_script stop "$RABBITMQ_DIR" >>"$OUT/rabbitmq.log" 2>&1 || true
  if [ -n "$RABBITMQ_PID" ]; then
    for _ in $(seq 1 100); do kill -0 "$RABBITMQ_PID" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$RABBITMQ_PID" 2>/dev/null || true
  fi
  RABBITMQ_PID=""
  RABBITMQ_DIR=""
}

rabbitmq_ctl() { rabbitmq_script ctl "$RABBITMQ_DIR" "$@"; }

rabbitmq_version() { dpkg-query -W -f='${Version}' rabbitmq-server 2>/dev/null | sed 's/-.*//'; }

# amqpadmin ARGS...: tools/amqpadmin against the bench's node and exchange.
amqpadmin() {
  "$TOOLS/amqpadmin" --port "$RABBITMQ_PORT" --user "$RABBITMQ_USER" --password "$RABBITMQ_PASSWORD" \
    --exchange "$RABBITMQ_EXCHANGE" --exchange-type fanout --routing-key "$RABBITMQ_ROUTING_KEY" "$@"
}

# The queue that makes the exchange routable for the POST workloads (Sluice publishes `mandatory`:
# without a bound queue a POST is a 500 NO_ROUTE): it keeps the last $RABBITMQ_SINK_LENGTH
# messages and drops older ones (x-max-length, x-overflow drop-head), so memory stays flat.
rabbitmq_sink() {
  amqpadmin sink "$RABBITMQ_SINK" "$RABBITMQ_SINK_LENGTH" >>"$OUT/rabbitmq.log" 2>&1 || {
    tail -5 "$OUT/rabbitmq.log" >&2
    log "could not declare the sink queue"
    exit 1
  }
}
