# Kafka workloads: Sluice's kafka endpoint in front of the bench's Tansu (Kafka-compatible,
# in-memory), each beside the same workload done natively with librdkafka (C) against the same
# broker in the same run.
#
#   kafka-post-64, kafka-post-256   HTTP POST of 100-byte bodies (202 after librdkafka's delivery
#                                 report) on 64 / 256 keep-alive connections, each sending
#                                 sequentially. Baseline: one librdkafka producer with Sluice's
#                                 producer settings (acks=all, not idempotent, linger.ms=1,
#                                 compression.type=none) and 64 / 256 messages in flight, each
#                                 "connection" producing its next message when the delivery report
#                                 of the previous comes back.
#   kafka-sse-100, kafka-sse-1000   one librdkafka publisher (acks=all, linger.ms=0) into the topic
#                                 at a fixed rate (2 000 deliveries/s in all: 20 msg/s to 100
#                                 subscribers, 2 msg/s to 1000), N SSE clients of Sluice at QoS auto,
#                                 each with its own client identifier, hence its own consumer group.
#                                 Baseline: N librdkafka consumers in one process, each its own
#                                 rd_kafka_t in its own group, auto.offset.reset=latest, offsets
#                                 auto-committed.
#   kafka-live-{sse,ws}-{100,1000,10000}   live fan-out against the yardstick: one librdkafka
#                                 publisher (acks=all, linger.ms=0) into the topic at 100 000 / N
#                                 msg/s, N SSE or WebSocket clients of the /live API (QoS none: each
#                                 is a consumer in its own group, autoOffsetReset latest). Baseline:
#                                 nginx + nchan, the same N, rate and size.
#
# Every workload starts on a fresh Tansu (and a fresh Sluice), and a fan-out's Sluice side on
# another fresh one: Tansu answers a fetch by polling its in-memory storage, at a cost that grows
# with the batches stored, so a broker filled by the previous run would tax the next.

register_family kafka kafka_up kafka_down
register_workload kafka-post-64 kafka "kafka_post 64"
register_workload kafka-post-256 kafka "kafka_post 256"
register_workload kafka-sse-100 kafka "kafka_sse 100"
register_workload kafka-sse-1000 kafka "kafka_sse 1000"
for n in 100 1000 10000; do
  register_workload "kafka-live-sse-$n" kafka "kafka_live sse $n"
  register_workload "kafka-live-ws-$n" kafka "kafka_live ws $n"
done

KAFKA_API=bench-kafka
KAFKA_LIVE_API=bench-kafka-live
KAFKA_MESSAGE_SIZE=100
# Fan-out load in deliveries per second (publish rate x subscribers): 20 msg/s to 100 subscribers,
# 2 msg/s to 1000. Tansu polls its storage for every waiting fetch (no wake-up on produce), so its
# CPU follows the number of consumers more than the messages: with 100 librdkafka consumers it
# takes ~35 % of a core at 2 000 deliveries/s, ~50 % at 5 000/s and saturates (p50 > 1 s) at
# 20 000/s; 1000 consumers saturate it whatever the rate (see README).
KAFKA_FANOUT_LOAD=${BENCH_KAFKA_FANOUT_LOAD:-2000}
# librdkafka settings of the baseline consumers: those Sluice fixes for the consumer of each SSE
# client at QoS auto (KafkaProperties.consumer in Sources/SluiceEndpoints/Kafka/KafkaProperties.swift),
# so that both sides load the broker alike: commit every second what the client has had (offsets
# stored on receipt), 6 s sessions with 1.5 s heartbeats, a small prefetch.
KAFKA_CONSUMER_SETTINGS=${BENCH_KAFKA_CONSUMER_SETTINGS-enable.auto.commit=true,auto.commit.interval.ms=1000,enable.auto.offset.store=false,session.timeout.ms=6000,heartbeat.interval.ms=1500,enable.partition.eof=false,queued.min.messages=1000,queued.max.messages.kbytes=4096}
# BENCH_KAFKA_ASSIGN=1: the baseline consumers take every partition with assign() instead of
# joining a group each (no group, no heartbeats, no commits): less work for the broker than
# Sluice's consumers do, for comparison only.
KAFKA_ASSIGN=${BENCH_KAFKA_ASSIGN:-0}
# A first consumer-group join on Tansu takes about half of session.timeout.ms (3 s here); 1000
# joins at once take longer. Short runs wait 40 s (kafka_ready_timeout).
kafka_ready_timeout() { echo "${BENCH_KAFKA_READY_TIMEOUT:-$([ "$short" = 1 ] && echo 40 || echo 120)}"; }

kafka_up() {
  ensure_packages librdkafka-dev
  kafka_prerequisites
  mkdir -p "$OUT/apis-kafka"
  cat >"$OUT/apis-kafka/$KAFKA_API.yaml" <<EOF
id: $KAFKA_API
name: bench kafka
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
  - name: kafka
    type: kafka
    sharedConfiguration:
      security: {protocol: PLAINTEXT}
      producer: {enabled: true, topics: [$KAFKA_TOPIC]}
      consumer: {enabled: true, topics: [$KAFKA_TOPIC], autoOffsetReset: latest}
    endpoints:
      - name: tansu
        type: kafka
        inheritConfiguration: true
        configuration: {bootstrapServers: "$KAFKA_BROKERS"}
plans: [{name: open, security: {type: key-less}, status: published}]
EOF
  # The live fan-out workloads: SSE and WebSocket at QoS none on the same topic.
  cat >"$OUT/apis-kafka/$KAFKA_LIVE_API.yaml" <<EOF
id: $KAFKA_LIVE_API
name: bench kafka live
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
  - name: kafka
    type: kafka
    sharedConfiguration:
      security: {protocol: PLAINTEXT}
      consumer: {enabled: true, topics: [$KAFKA_TOPIC], autoOffsetReset: latest}
    endpoints:
      - name: tansu
        type: kafka
        inheritConfiguration: true
        configuration: {bootstrapServers: "$KAFKA_BROKERS"}
plans: [{name: open, security: {type: key-less}, status: published}]
EOF
  kafka_fresh
  SETTINGS_LINE+=" Tansu $(tansu_version) on :$KAFKA_PORT (in-memory, topic $KAFKA_TOPIC: $(kv "$OUT/tansu-metadata.txt" partitions) partitions, fresh for every run), librdkafka $(kv "$OUT/tansu-metadata.txt" librdkafka)."
}

kafka_down() {
  sluice_stop
  tansu_stop
}

# A fresh broker (empty) and a fresh Sluice connected to it.
kafka_fresh() {
  sluice_stop
  tansu_stop
  tansu_start
  sluice_start "$OUT/apis-kafka" "http://127.0.0.1:$SLUICE_PORT/bench"
}

# kafka_post CONNECTIONS
kafka_post() {
  local connections=$1 name=kafka-post-$1
  local base="$OUT/$name.baseline.txt" sl="$OUT/$name.sluice.txt" log_before
  kafka_fresh
  log "$name: baseline: librdkafka, $connections messages in flight, ${PUBLISH_DURATION}s"
  run_tool "$base" "$name: the baseline tool" \
    "$TOOLS/kafkapub" --brokers "$KAFKA_BROKERS" --topic "$KAFKA_TOPIC" --connections "$connections" \
    --duration "$PUBLISH_DURATION" --warmup "$WARMUP" --size "$KAFKA_MESSAGE_SIZE" \
    --watch broker="$TANSU_PID"
  sluice_ensure "$name"
  log_before=$(sluice_log_lines)
  log "$name: Sluice: HTTP POST, $connections connections, ${PUBLISH_DURATION}s"
  run_tool "$sl" "$name: the load tool" \
    "$TOOLS/httpload" --port "$SLUICE_PORT" --path /bench --connections "$connections" \
    --duration "$PUBLISH_DURATION" --warmup "$WARMUP" --size "$KAFKA_MESSAGE_SIZE" --expect 202 \
    --watch sluice="$SLUICE_PID" --watch broker="$TANSU_PID"
  publish_rows "$name" "$sl" "$base" \
    "$connections conns, ${KAFKA_MESSAGE_SIZE} B, ${PUBLISH_DURATION}s (+${WARMUP}s warm-up), acks $(kv "$base" setting_acks | sed "s/^-1$/all/"), idempotence $(kv "$base" setting_enable_idempotence), max.in.flight $(kv "$base" setting_max_in_flight_requests_per_connection), linger.ms $(kv "$base" setting_linger_ms), batch.num.messages $(kv "$base" setting_batch_num_messages), batch.size $(kv "$base" setting_batch_size), compression $(kv "$base" setting_compression_type)"
  publish_ceiling_rows "$sl" "$name" "$connections" "$KAFKA_MESSAGE_SIZE" Kafka "$TANSU_PID" --kafka "$KAFKA_BROKERS" --topic "$KAFKA_TOPIC"
  yardstick_publish_rows "$sl" "$connections" "$KAFKA_MESSAGE_SIZE"
  [ "$(kv "$base" client_errors)" = 0 ] || note "$name: baseline: librdkafka reported $(kv "$base" client_errors) errors (see $base.err)"
  sluice_log_note "$name" "$log_before"
}

# kafka_sse SUBSCRIBERS [RATE]: RATE defaults to KAFKA_FANOUT_LOAD / SUBSCRIBERS messages per second.
kafka_sse() {
  local subscribers=$1 rate=${2:-$((KAFKA_FANOUT_LOAD / $1))} name=kafka-sse-$1
  local base="$OUT/$name.baseline.txt" sl="$OUT/$name.sluice.txt" log_before
  local common=(--subscribers "$subscribers" --rate "$rate" --duration "$FANOUT_DURATION" --size "$KAFKA_MESSAGE_SIZE"
    --broker-port "$KAFKA_PORT" --pub kafka --brokers "$KAFKA_BROKERS" --topic "$KAFKA_TOPIC"
    --drain "$DRAIN" --ready-timeout "$(kafka_ready_timeout)")
  kafka_fresh
  log "$name: baseline: $subscribers librdkafka consumers ($([ "$KAFKA_ASSIGN" = 1 ] && echo "assign(), no group" || echo "one group each")), $rate msg/s for ${FANOUT_DURATION}s"
  run_tool "$base" "$name: the baseline tool" \
    "$TOOLS/fanout" --mode kafka "${common[@]}" --sub-settings "$KAFKA_CONSUMER_SETTINGS" --kafka-assign "$KAFKA_ASSIGN" \
    --watch broker="$TANSU_PID"
  kafka_fresh
  log_before=$(sluice_log_lines)
  log "$name: Sluice: $subscribers SSE clients (QoS auto), $rate msg/s for ${FANOUT_DURATION}s"
  run_tool "$sl" "$name: the SSE tool" \
    "$TOOLS/fanout" --mode sse "${common[@]}" --port "$SLUICE_PORT" --path /bench \
    --watch sluice="$SLUICE_PID" --watch broker="$TANSU_PID"
  fanout_rows "$name" "$subscribers" "$sl" "$base" \
    "$subscribers subs, $rate msg/s x ${FANOUT_DURATION}s, ${KAFKA_MESSAGE_SIZE} B, publisher acks=all linger.ms=0, SSE QoS auto, baseline: $([ "$KAFKA_ASSIGN" = 1 ] && echo "assign() without groups" || echo "a group per consumer") with Sluice's consumer settings" \
    reordered
  local f
  for f in "$sl" "$base"; do
    [ -s "$f" ] || continue
    [ "$(kv "$f" ready)" = "$subscribers" ] && awk -v r="$(kv "$f" ready_s)" 'BEGIN { exit !(r > 10) }' &&
      note "$name: $([ "$f" = "$sl" ] && echo Sluice || echo baseline): every subscriber had a first message only after $(kv "$f" ready_s) s (consumer-group joins)"
  done
  sluice_log_note "$name" "$log_before"
}

# kafka_live MODE SUBSCRIBERS: MODE sse or ws clients of /live against nchan (see live_fanout), on a
# fresh Tansu and Sluice. Each client is a consumer in its own group inside Sluice.
kafka_live() {
  local mode=$1 subscribers=$2 name=kafka-live-$1-$2
  kafka_fresh
  live_fanout "$name" "$mode" "$subscribers" "publisher: librdkafka acks=all linger.ms=0 into $KAFKA_TOPIC; a consumer group per client" reordered \
    --broker-port "$KAFKA_PORT" --pub kafka --brokers "$KAFKA_BROKERS" --topic "$KAFKA_TOPIC" \
    --watch sluice="$SLUICE_PID" --watch broker="$TANSU_PID"
}
