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
#   rabbitmq-live-{sse,ws}-{100,1000,10000}   live fan-out against the yardstick: one rabbitmq-c
#                                 publisher (confirms) into bench.x at 100 000 / N msg/s, N SSE or
#                                 WebSocket clients of the /live API (QoS none: each has an
#                                 auto-delete queue sluice/bench-rabbitmq-live/transient/<id>).
#                                 Baseline: nginx + nchan, the same N, rate and size.
#   rabbitmq-memory-slow-sse-100  as memory-slow-sse-100 (mqtt5.sh) but against /bench at QoS auto:
#                                 Sluice stops consuming for a client that does not keep up, so the
#                                 messages wait in RabbitMQ (broker growth) instead.

register_family rabbitmq rabbitmq_up rabbitmq_down
register_workload rabbitmq-post-64 rabbitmq "rabbitmq_post 64"
register_workload rabbitmq-post-256 rabbitmq "rabbitmq_post 256"
register_workload rabbitmq-sse-100 rabbitmq "rabbitmq_sse 100"
register_workload rabbitmq-sse-1000 rabbitmq "rabbitmq_sse 1000"
for n in 100 1000 10000; do
  register_workload "rabbitmq-live-sse-$n" rabbitmq "rabbitmq_live sse $n"
  register_workload "rabbitmq-live-ws-$n" rabbitmq "rabbitmq_live ws $n"
done
register_workload rabbitmq-memory-slow-sse-100 rabbitmq "rabbitmq_memory_slow 100"

RABBITMQ_API=bench-rabbitmq
RABBITMQ_LIVE_API=bench-rabbitmq-live
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
  # The live fan-out workloads: SSE and WebSocket at QoS none on the same exchange.
  cat >"$OUT/apis-rabbitmq/$RABBITMQ_LIVE_API.yaml" <<EOF
id: $RABBITMQ_LIVE_API
name: bench rabbitmq live
apiVersion: "1.0"
definitionVersion: 4.0.0
type: message
listeners:
  - type: http
    paths: [{path: /live}]
    entrypoints:
      - {type: sse, qos: none, configuration: {heartbeatIntervalInMs: 5000}}
      - {type: websocket, qos: none, configuration: {publisher: {enabled: false}}}
endpointGroups:
  - name: rabbitmq
    type: rabbitmq
    sharedConfiguration:
      security: {auth: {username: $RABBITMQ_USER, password: $RABBITMQ_PASSWORD}}
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
  run_tool "$base" "$name: the baseline tool" \
    "$TOOLS/amqppub" --port "$RABBITMQ_PORT" --user "$RABBITMQ_USER" --password "$RABBITMQ_PASSWORD" \
    --exchange "$RABBITMQ_EXCHANGE" --exchange-type fanout --routing-key "$RABBITMQ_ROUTING_KEY" \
    --connections "$connections" --duration "$PUBLISH_DURATION" --warmup "$WARMUP" --size "$RABBITMQ_MESSAGE_SIZE" \
    --watch broker="$RABBITMQ_PID"
  sluice_ensure "$name"
  log_before=$(sluice_log_lines)
  log "$name: Sluice: HTTP POST, $connections connections, ${PUBLISH_DURATION}s"
  run_tool "$sl" "$name: the load tool" \
    "$TOOLS/httpload" --port "$SLUICE_PORT" --path /bench --connections "$connections" \
    --duration "$PUBLISH_DURATION" --warmup "$WARMUP" --size "$RABBITMQ_MESSAGE_SIZE" --expect 202 \
    --watch sluice="$SLUICE_PID" --watch broker="$RABBITMQ_PID"
  publish_rows "$name" "$sl" "$base" \
    "$connections conns, ${RABBITMQ_MESSAGE_SIZE} B, ${PUBLISH_DURATION}s (+${WARMUP}s warm-up), mandatory + confirms"
  yardstick_publish_rows "$sl" "$connections" "$RABBITMQ_MESSAGE_SIZE"
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
  run_tool "$base" "$name: the baseline tool" \
    "$TOOLS/fanout" --mode amqp "${common[@]}" --prefetch 100 --watch broker="$RABBITMQ_PID"
  sluice_ensure "$name"
  log_before=$(sluice_log_lines)
  log "$name: Sluice: $subscribers SSE clients (QoS auto), $rate msg/s for ${FANOUT_DURATION}s"
  run_tool "$sl" "$name: the SSE tool" \
    "$TOOLS/fanout" --mode sse "${common[@]}" --port "$SLUICE_PORT" --path /bench \
    --watch sluice="$SLUICE_PID" --watch broker="$RABBITMQ_PID"
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

# rabbitmq_live MODE SUBSCRIBERS: MODE sse or ws clients of /live against nchan (see live_fanout);
# from 1000 clients on, their auto-delete queues still there afterwards are deleted.
rabbitmq_live() {
  local mode=$1 subscribers=$2 name=rabbitmq-live-$1-$2
  rabbitmq_ensure "$name"
  sluice_ensure "$name"
  live_fanout "$name" "$mode" "$subscribers" "publisher: rabbitmq-c with confirms into $RABBITMQ_EXCHANGE" "" \
    --broker-port "$RABBITMQ_PORT" --pub amqp --user "$RABBITMQ_USER" --password "$RABBITMQ_PASSWORD" \
    --exchange "$RABBITMQ_EXCHANGE" --exchange-type fanout --routing-key "$RABBITMQ_ROUTING_KEY" \
    --watch sluice="$SLUICE_PID" --watch broker="$RABBITMQ_PID"
  # rabbitmqctl takes seconds; 100 leftover queues would not matter, thousands would (and hold
  # Sluice's channels).
  [ "$subscribers" -lt 1000 ] || rabbitmq_live_cleanup "$name" "$(kv "$OUT/$name.sluice.txt" run_id)"
}

# rabbitmq_live_cleanup NAME RUN_ID: the auto-delete queues of the run's /live clients
# (sluice/<api>/transient/sub-<run>-...) go when Sluice cancels their consumers, which it does
# when it notices the client gone (at its next write: a message or a heartbeat). Those still there
# once rabbitmqctl has answered (a few seconds) are deleted, so that they take no messages during
# the next workloads; how many is in $OUT/NAME.cleanup.txt (not noted: Sluice had no write yet).
rabbitmq_live_cleanup() {
  local name=$1 run_id=$2 prefix queues=()
  [ -n "$run_id" ] || return 0
  prefix="sluice/$RABBITMQ_LIVE_API/transient/sub-$run_id-"
  mapfile -t queues < <(rabbitmq_ctl list_queues --quiet --no-table-headers name 2>/dev/null | awk -v p="$prefix" 'index($1, p) == 1 {print $1}')
  [ ${#queues[@]} -gt 0 ] || return 0
  amqpadmin delete "${queues[@]}" >"$OUT/$name.cleanup.txt" 2>&1 || note "$name: deleting the clients' queues failed: $(tail -1 "$OUT/$name.cleanup.txt")"
}

# rabbitmq_memory_slow SUBSCRIBERS: memory growth with slow SSE subscribers of /bench at QoS auto
# (Sluice stops taking a client's messages from its queue while the client is behind, so they wait
# in RabbitMQ), the publisher into bench.x, against nchan (see memory_slow_workload); a fresh
# Sluice, then the clients' queues are deleted.
rabbitmq_memory_slow() {
  local subscribers=$1 name=rabbitmq-memory-slow-sse-$1
  rabbitmq_ensure "$name"
  sluice_stop
  sluice_start "$OUT/apis-rabbitmq" "http://127.0.0.1:$SLUICE_PORT/bench"
  memory_slow_workload "$name" "$subscribers" /bench "/bench QoS auto, publisher: rabbitmq-c with confirms; broker: RabbitMQ RSS" \
    --broker-port "$RABBITMQ_PORT" --pub amqp --user "$RABBITMQ_USER" --password "$RABBITMQ_PASSWORD" \
    --exchange "$RABBITMQ_EXCHANGE" --exchange-type fanout --routing-key "$RABBITMQ_ROUTING_KEY" \
    --mem sluice=rss:"$SLUICE_PID" --mem broker=rss:"$RABBITMQ_PID" --watch sluice="$SLUICE_PID" --watch broker="$RABBITMQ_PID"
  # The clients' durable queues hold what they did not read: deleted at once (Sluice's consumers
  # on them are cancelled by the broker; how fast Sluice lets go is measured by rabbitmq-sse-*).
  local run_id queues=()
  run_id=$(kv "$OUT/$name.sluice.txt" run_id)
  [ -n "$run_id" ] || return 0
  mapfile -t queues < <(rabbitmq_ctl list_queues --quiet --no-table-headers name 2>/dev/null |
    awk -v p="sluice/$RABBITMQ_API/sub-$run_id-" 'index($1, p) == 1 {print $1}')
  [ ${#queues[@]} -gt 0 ] || return 0
  amqpadmin delete "${queues[@]}" >"$OUT/$name.cleanup.txt" 2>&1 || note "$name: deleting the clients' queues failed: $(tail -1 "$OUT/$name.cleanup.txt")"
}
