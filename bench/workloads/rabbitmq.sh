# RabbitMQ workloads: Sluice's rabbitmq endpoint in front of the bench's RabbitMQ node, each beside
# the same workload done natively with rabbitmq-c (C) against the same node in the same run.
#
#   rabbitmq-post-64, rabbitmq-post-256   HTTP POST of 100-byte bodies (202 after the broker's
#                                 confirm) on 64 / 256 keep-alive connections, each sending
#                                 sequentially. Baseline: 64 / 256 rabbitmq-c connections, each
#                                 publishing `mandatory` with publisher confirms, sequentially (the
#                                 next after the basic.ack). Both publish to the fanout exchange
#                                 bench.x, whose only queue is then the sink (bench.sink, last 1000
#                                 messages kept): Sluice publishes `mandatory`, and an exchange
#                                 without a queue makes every POST a 500 NO_ROUTE.
#   rabbitmq-sse-100, rabbitmq-sse-1000   one rabbitmq-c publisher (confirms) into bench.x at a
#                                 fixed rate (5 000 deliveries/s in all: 50 msg/s to 100
#                                 subscribers, 5 msg/s to 1000), N SSE clients of Sluice at QoS
#                                 auto (each with its own client identifier, so each has its own
#                                 durable queue sluice/bench-rabbitmq/<id> and gets every message).
#                                 Baseline: N rabbitmq-c consumers, each with its own connection
#                                 and durable queue bound to bench.x, prefetch 100 (as Sluice),
#                                 each message acknowledged on receipt. Sluice's queues are
#                                 deleted after the workload (once Sluice has let go of them).

register_family rabbitmq rabbitmq_up rabbitmq_down
register_workload rabbitmq-post-64 rabbitmq "rabbitmq_post 64"
register_workload rabbitmq-post-256 rabbitmq "rabbitmq_post 256"
register_workload rabbitmq-sse-100 rabbitmq "rabbitmq_sse 100"
register_workload rabbitmq-sse-1000 rabbitmq "rabbitmq_sse 1000"

RABBITMQ_API=bench-rabbitmq
RABBITMQ_MESSAGE_SIZE=100
# Fan-out load in deliveries per second (publish rate x subscribers): 50 msg/s to 100
# subscribers, 5 msg/s to 1000. RabbitMQ is far costlier per delivery than Mosquitto: with the
# rabbitmq-c consumers on a 2-core machine it saturates at about 12 000 acknowledged deliveries/s
# with 100 queues (p99 already ~100 ms at 10 000/s) and about 8 000/s with 1000; at 5 000/s the
# baseline is not saturated (100: p99 ~11 ms; 1000: every message a burst of 1000 deliveries, p50
# ~65 ms), so the comparison shows what Sluice adds.
RABBITMQ_FANOUT_LOAD=${BENCH_RABBITMQ_FANOUT_LOAD:-5000}

rabbitmq_up() {
  ensure_packages rabbitmq-server librabbitmq-dev
  rabbitmq_start
  rabbitmq_sink
  mkdir -p "$OUT/apis-rabbitmq"
  cat >"$OUT/apis-rabbitmq/$RABBITMQ_API.yaml" <<EOF
id: $RABBITMQ_API
name: bench rabbitmq
apiVersion: "1.0"
definitionVersion: 4.0.0
type: message
listeners:
  - type: http
    paths: [{path: /bench}]
    entrypoints:
      - {type: http-post, qos: auto}
      - {type: sse, qos: auto, configuration: {heartbeatIntervalInMs: 5000}}
endpointGroups:
  - name: rabbitmq
    type: rabbitmq
    sharedConfiguration:
      security: {auth: {username: $RABBITMQ_USER, password: $RABBITMQ_PASSWORD}}
      producer: {enabled: true, routingKey: $RABBITMQ_ROUTING_KEY, exchange: {name: $RABBITMQ_EXCHANGE, type: fanout}}
      consumer: {enabled: true, routingKey: $RABBITMQ_ROUTING_KEY, exchange: {name: $RABBITMQ_EXCHANGE, type: fanout}}
    endpoints:
      - name: rabbitmq
        type: rabbitmq
        inheritConfiguration: true
        configuration: {serverHost: 127.0.0.1, serverPort: $RABBITMQ_PORT}
plans: [{name: open, security: {type: key-less}, status: published}]
EOF
  sluice_start "$OUT/apis-rabbitmq" "http://127.0.0.1:$SLUICE_PORT/bench"
  SETTINGS_LINE+=" RabbitMQ $(rabbitmq_version) on :$RABBITMQ_PORT (+sbwt none, exchange $RABBITMQ_EXCHANGE fanout, sink queue $RABBITMQ_SINK: x-max-length $RABBITMQ_SINK_LENGTH drop-head)."
}

rabbitmq_down() {
  sluice_stop
  rabbitmq_stop
}

# rabbitmq_post CONNECTIONS
rabbitmq_post() {
  local connections=$1 name=rabbitmq-post-$1
  local base="$OUT/$name.baseline.txt" sl="$OUT/$name.sluice.txt" log_before
  rabbitmq_ensure "$name"
  log "$name: baseline: rabbitmq-c, $connections connections, confirms, sequential, ${PUBLISH_DURATION}s"
  "$TOOLS/amqppub" --port "$RABBITMQ_PORT" --user "$RABBITMQ_USER" --password "$RABBITMQ_PASSWORD" \
    --exchange "$RABBITMQ_EXCHANGE" --exchange-type fanout --routing-key "$RABBITMQ_ROUTING_KEY" \
    --connections "$connections" --duration "$PUBLISH_DURATION" --warmup "$WARMUP" --size "$RABBITMQ_MESSAGE_SIZE" \
    --watch broker="$RABBITMQ_PID" >"$base" 2>"$base.err" || note "$name: the baseline tool failed: $(tail -1 "$base.err")"
  sluice_ensure "$name"
  log_before=$(sluice_log_lines)
  log "$name: Sluice: HTTP POST, $connections connections, ${PUBLISH_DURATION}s"
  "$TOOLS/httpload" --port "$SLUICE_PORT" --path /bench --connections "$connections" \
    --duration "$PUBLISH_DURATION" --warmup "$WARMUP" --size "$RABBITMQ_MESSAGE_SIZE" --expect 202 \
    --watch sluice="$SLUICE_PID" --watch broker="$RABBITMQ_PID" >"$sl" 2>"$sl.err" || note "$name: the load tool failed: $(tail -1 "$sl.err")"
  publish_rows "$name" "$sl" "$base" \
    "$connections conns, ${RABBITMQ_MESSAGE_SIZE} B, ${PUBLISH_DURATION}s (+${WARMUP}s warm-up), mandatory + confirms"
  sluice_log_note "$name" "$log_before"
}

# rabbitmq_sse SUBSCRIBERS [RATE]: RATE defaults to RABBITMQ_FANOUT_LOAD / SUBSCRIBERS messages per second.
rabbitmq_sse() {
  local subscribers=$1 rate=${2:-$((RABBITMQ_FANOUT_LOAD / $1))} name=rabbitmq-sse-$1
  local base="$OUT/$name.baseline.txt" sl="$OUT/$name.sluice.txt" log_before
  local common=(--subscribers "$subscribers" --rate "$rate" --duration "$FANOUT_DURATION" --size "$RABBITMQ_MESSAGE_SIZE"
    --broker-port "$RABBITMQ_PORT" --pub amqp --user "$RABBITMQ_USER" --password "$RABBITMQ_PASSWORD"
    --exchange "$RABBITMQ_EXCHANGE" --exchange-type fanout --routing-key "$RABBITMQ_ROUTING_KEY" --drain "$DRAIN")
  rabbitmq_ensure "$name"
  log "$name: baseline: $subscribers rabbitmq-c consumers (prefetch 100, ack each), $rate msg/s for ${FANOUT_DURATION}s"
  "$TOOLS/fanout" --mode amqp "${common[@]}" --prefetch 100 \
    --watch broker="$RABBITMQ_PID" >"$base" 2>"$base.err" || note "$name: the baseline tool failed: $(tail -1 "$base.err")"
  sluice_ensure "$name"
  log_before=$(sluice_log_lines)
  log "$name: Sluice: $subscribers SSE clients (QoS auto), $rate msg/s for ${FANOUT_DURATION}s"
  "$TOOLS/fanout" --mode sse "${common[@]}" --port "$SLUICE_PORT" --path /bench \
    --watch sluice="$SLUICE_PID" --watch broker="$RABBITMQ_PID" >"$sl" 2>"$sl.err" || note "$name: the SSE tool failed: $(tail -1 "$sl.err")"
  local closed_at
  closed_at=$(date +%s.%N)
  fanout_rows "$name" "$subscribers" "$sl" "$base" \
    "$subscribers subs, $rate msg/s x ${FANOUT_DURATION}s, ${RABBITMQ_MESSAGE_SIZE} B, publisher confirms, SSE QoS auto, prefetch 100"
  sluice_log_note "$name" "$log_before"
  rabbitmq_sse_cleanup "$name" "$(kv "$sl" run_id)" "$closed_at"
}

# Waits until Sluice has ended its consumers on the queues of the run's SSE clients (closed at
# CLOSED_AT, seconds since the epoch), notes how long that took, then deletes those queues: they are
# durable and would fill up during the next workloads. Their names are
# sluice/<api>/<sent identifier>-<sha256 of the client address> (the effective client identifier).
rabbitmq_sse_cleanup() {
  local name=$1 run_id=$2 closed_at=$3 prefix consumers=-1 released queues=() left
  if [ -n "$run_id" ]; then
    prefix="sluice/$RABBITMQ_API/sub-$run_id-"
    for _ in $(seq 1 20); do
      consumers=$(rabbitmq_ctl list_queues --quiet --no-table-headers name consumers 2>/dev/null |
        awk -v p="$prefix" 'index($1, p) == 1 {n += $2} END {print n + 0}')
      [ "$consumers" = 0 ] && break
      sleep 0.3
    done
    released=$(awk -v a="$closed_at" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    if [ "$consumers" != 0 ]; then
      note "$name: Sluice still had $consumers consumers on the queues of the closed SSE clients ${released}s after they closed"
    elif awk -v r="$released" 'BEGIN { exit !(r > 2) }'; then
      note "$name: Sluice ended the RabbitMQ consumers of the closed SSE clients only ${released}s after they closed (seen by rabbitmqctl, ~1 s resolution)"
    fi
    mapfile -t queues < <(rabbitmq_ctl list_queues --quiet --no-table-headers name 2>/dev/null | awk -v p="$prefix" 'index($1, p) == 1 {print $1}')
    if [ ${#queues[@]} -gt 0 ]; then
      amqpadmin delete "${queues[@]}" >"$OUT/$name.cleanup.txt" 2>&1 || note "$name: deleting Sluice's queues failed: $(tail -1 "$OUT/$name.cleanup.txt")"
    fi
  fi
  left=$(rabbitmq_ctl list_queues --quiet --no-table-headers name 2>/dev/null | grep -cvx "$RABBITMQ_SINK" || true)
  [ "$left" = 0 ] || note "$name: $left queues besides the sink left on RabbitMQ after the workload"
}
