# MQTT 5 workloads: Sluice's mqtt5 endpoint in front of Mosquitto, each beside the same workload
# done natively with libmosquitto against the same broker in the same run.
#
#   mqtt-post-64, mqtt-post-256   HTTP POST of 100-byte bodies (202 after the broker's PUBACK) on 64 /
#                                 256 keep-alive connections, each sending sequentially.
#                                 Baseline: 64 / 256 libmosquitto connections, each publishing QoS 1
#                                 sequentially (the next after the PUBACK).
#   mqtt-sse-100, mqtt-sse-1000   one publisher at a fixed rate (20 000 deliveries/s in all: 200
#                                 msg/s to 100 subscribers, 20 msg/s to 1000) into Mosquitto, N SSE clients of
#                                 Sluice (each with its own client identifier, so each gets every
#                                 message). Baseline: N libmosquitto subscribers of the broker with
#                                 the same shared-subscription filters Sluice uses.
#   mqtt-live-{sse,ws}-{100,1000,10000}   live fan-out against the yardstick: one libmosquitto
#                                 publisher (QoS 1) into Mosquitto at 100 000 / N msg/s, N SSE or
#                                 WebSocket clients of the /live API (QoS none). Baseline: nginx +
#                                 nchan, the same N, rate and size, its publisher POSTing to nchan.
#   mqtt-live-sse-1000-400k      the same with 1000 SSE clients at 400 000 deliveries/s offered (400
#                                 msg/s): a load the yardstick cannot sustain on slower 2-core machines.
#   mqtt-live-sse-1000-1200k     the same at 1 200 000 deliveries/s offered (1200 msg/s), for machines
#                                 where the yardstick sustains 400 000.
#   memory-idle-sse-10000         10 000 idle SSE clients of /live (no message): Sluice's RSS
#                                 growth per connection against nginx's PSS (master + workers).
#   memory-slow-sse-100           100 SSE clients of /live reading 300 bytes/s each while 1000 msg/s
#                                 of 1 KB are published for 60 s (short: 5 s): memory growth and
#                                 how many the server disconnected, against nchan.

register_family mqtt5 mqtt5_up mqtt5_down
register_workload mqtt-post-64 mqtt5 "mqtt_post 64"
register_workload mqtt-post-256 mqtt5 "mqtt_post 256"
register_workload mqtt-sse-100 mqtt5 "mqtt_sse 100"
register_workload mqtt-sse-1000 mqtt5 "mqtt_sse 1000"
for n in 100 1000 10000; do
  register_workload "mqtt-live-sse-$n" mqtt5 "mqtt_live sse $n"
  register_workload "mqtt-live-ws-$n" mqtt5 "mqtt_live ws $n"
done
register_workload mqtt-live-sse-1000-400k mqtt5 "mqtt_live sse 1000 400000"
register_workload mqtt-live-sse-1000-1200k mqtt5 "mqtt_live sse 1000 1200000"
register_workload memory-idle-sse-10000 mqtt5 "memory_idle 10000"
register_workload memory-slow-sse-100 mqtt5 "memory_slow 100"

MQTT_TOPIC=bench/t
MQTT_MESSAGE_SIZE=100
# Fan-out load in deliveries per second (publish rate x subscribers): 200 msg/s to 100
# subscribers, 20 msg/s to 1000. Chosen well below what Mosquitto and the libmosquitto
# subscribers sustain together on a 2-core machine (~65 000/s at QoS 1), so that the baseline is
# not saturated and the comparison shows what Sluice adds.
FANOUT_LOAD=${BENCH_FANOUT_LOAD:-20000}
# QoS of the baseline subscriptions, to match the subscriptions Sluice makes for SSE clients.
MQTT_SUB_QOS=${BENCH_MQTT_SUB_QOS:-1}

mqtt5_up() {
  ensure_packages mosquitto libmosquitto-dev
  mosquitto_start
  mkdir -p "$OUT/apis"
  cat >"$OUT/apis/bench-mqtt.yaml" <<EOF
id: bench-mqtt
name: bench mqtt
apiVersion: "1.0"
definitionVersion: 4.0.0
type: message
listeners:
  - type: http
    paths: [{path: /bench}]
    entrypoints:
      - {type: http-post, qos: auto}
      - {type: sse, qos: none, configuration: {heartbeatIntervalInMs: 5000}}
endpointGroups:
  - name: mqtt
    type: mqtt5
    sharedConfiguration:
      sessionExpiryInterval: 0
      producer: {enabled: true, topic: $MQTT_TOPIC}
      consumer: {enabled: true, topic: $MQTT_TOPIC}
    endpoints:
      - name: mosquitto
        type: mqtt5
        inheritConfiguration: true
        configuration: {serverHost: 127.0.0.1, serverPort: $MOSQUITTO_PORT}
plans: [{name: open, security: {type: key-less}, status: published}]
EOF
  # The live fan-out and memory workloads: SSE and WebSocket at QoS none on the same topic.
  cat >"$OUT/apis/bench-mqtt-live.yaml" <<EOF
id: bench-mqtt-live
name: bench mqtt live
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
  - name: mqtt
    type: mqtt5
    sharedConfiguration:
      sessionExpiryInterval: 0
      consumer: {enabled: true, topic: $MQTT_TOPIC}
    endpoints:
      - name: mosquitto
        type: mqtt5
        inheritConfiguration: true
        configuration: {serverHost: 127.0.0.1, serverPort: $MOSQUITTO_PORT}
plans: [{name: open, security: {type: key-less}, status: published}]
EOF
  sluice_start "$OUT/apis" "http://127.0.0.1:$SLUICE_PORT/bench"
  SETTINGS_LINE+=" Mosquitto $(mosquitto_version) on :$MOSQUITTO_PORT (max_inflight_messages 1000, max_queued_messages 1000000)."
}

mqtt5_down() {
  sluice_stop
  mosquitto_stop
}

# mqtt_post CONNECTIONS
mqtt_post() {
  local connections=$1 name=mqtt-post-$1
  local base="$OUT/$name.baseline.txt" sl="$OUT/$name.sluice.txt" log_before
  mosquitto_ensure "$name"
  log "$name: baseline: libmosquitto, $connections connections, QoS 1 sequential, ${PUBLISH_DURATION}s"
  run_tool "$base" "$name: the baseline tool" \
    "$TOOLS/mqttpub" --port "$MOSQUITTO_PORT" --topic "$MQTT_TOPIC" --connections "$connections" \
    --duration "$PUBLISH_DURATION" --warmup "$WARMUP" --size "$MQTT_MESSAGE_SIZE" --qos 1 \
    --watch broker="$MOSQUITTO_PID"
  sluice_ensure "$name"
  log_before=$(sluice_log_lines)
  log "$name: Sluice: HTTP POST, $connections connections, ${PUBLISH_DURATION}s"
  run_tool "$sl" "$name: the load tool" \
    "$TOOLS/httpload" --port "$SLUICE_PORT" --path /bench --connections "$connections" \
    --duration "$PUBLISH_DURATION" --warmup "$WARMUP" --size "$MQTT_MESSAGE_SIZE" --expect 202 \
    --watch sluice="$SLUICE_PID" --watch broker="$MOSQUITTO_PID"

  publish_rows "$name" "$sl" "$base" "$connections conns, ${MQTT_MESSAGE_SIZE} B, ${PUBLISH_DURATION}s (+${WARMUP}s warm-up), QoS 1"
  publish_ceiling_rows "$sl" "$name" "$connections" "$MQTT_MESSAGE_SIZE" Mosquitto "$MOSQUITTO_PID" --mqtt "127.0.0.1:$MOSQUITTO_PORT" --topic "$MQTT_TOPIC"
  yardstick_publish_rows "$sl" "$connections" "$MQTT_MESSAGE_SIZE"
  sluice_log_note "$name" "$log_before"
}

# mqtt_sse SUBSCRIBERS [RATE]: RATE defaults to FANOUT_LOAD / SUBSCRIBERS messages per second.
mqtt_sse() {
  local subscribers=$1 rate=${2:-$((FANOUT_LOAD / $1))} name=mqtt-sse-$1
  local base="$OUT/$name.baseline.txt" sl="$OUT/$name.sluice.txt" log_before
  local common=(--subscribers "$subscribers" --rate "$rate" --duration "$FANOUT_DURATION" --size "$MQTT_MESSAGE_SIZE"
    --broker-port "$MOSQUITTO_PORT" --topic "$MQTT_TOPIC" --pub-qos 1 --drain "$DRAIN")
  mosquitto_ensure "$name"
  log "$name: baseline: $subscribers libmosquitto subscribers (QoS $MQTT_SUB_QOS), $rate msg/s for ${FANOUT_DURATION}s"
  run_tool "$base" "$name: the baseline tool" \
    "$TOOLS/fanout" --mode mqtt "${common[@]}" --sub-qos "$MQTT_SUB_QOS" --share 1 --watch broker="$MOSQUITTO_PID"
  sluice_ensure "$name"
  log_before=$(sluice_log_lines)
  log "$name: Sluice: $subscribers SSE clients, $rate msg/s for ${FANOUT_DURATION}s"
  run_tool "$sl" "$name: the SSE tool" \
    "$TOOLS/fanout" --mode sse "${common[@]}" --port "$SLUICE_PORT" --path /bench \
    --watch sluice="$SLUICE_PID" --watch broker="$MOSQUITTO_PID"

  fanout_rows "$name" "$subscribers" "$sl" "$base" \
    "$subscribers subs, $rate msg/s x ${FANOUT_DURATION}s, ${MQTT_MESSAGE_SIZE} B, publish QoS 1, baseline sub QoS $MQTT_SUB_QOS"
  sluice_log_note "$name" "$log_before"
}

# mqtt_live MODE SUBSCRIBERS: MODE sse or ws clients of /live against nchan (see live_fanout).
# mqtt_live MODE SUBSCRIBERS [LOAD]: LOAD deliveries/s offered instead of BENCH_LIVE_LOAD.
mqtt_live() {
  local mode=$1 subscribers=$2 name=mqtt-live-$1-$2
  # Seen by live_fanout and live_rate (bash scoping is dynamic).
  local LIVE_LOAD=${3:-$LIVE_LOAD}
  [ -z "${3:-}" ] || name="$name-$(($3 / 1000))k"
  mosquitto_ensure "$name"
  sluice_ensure "$name"
  live_fanout "$name" "$mode" "$subscribers" "publisher: libmosquitto QoS 1 into Mosquitto" "" \
    --broker-port "$MOSQUITTO_PORT" --topic "$MQTT_TOPIC" --pub-qos 1 \
    --watch sluice="$SLUICE_PID" --watch broker="$MOSQUITTO_PID"
}

# A fresh Mosquitto and Sluice for the memory workloads: what earlier workloads left in the
# allocator's free lists would hide growth.
mqtt5_fresh() {
  sluice_stop
  mosquitto_stop
  mosquitto_start
  sluice_start "$OUT/apis" "http://127.0.0.1:$SLUICE_PORT/bench"
}

# memory_idle SUBSCRIBERS: the server's memory per idle SSE connection, against nchan (see
# memory_idle_workload); Sluice's clients use /live (QoS none), Mosquitto's RSS is read too.
memory_idle() {
  local subscribers=$1 name=memory-idle-sse-$1
  mqtt5_fresh
  memory_idle_workload "$name" "$subscribers" /live "broker: Mosquitto RSS" \
    --mem sluice=rss:"$SLUICE_PID" --mem broker=rss:"$MOSQUITTO_PID" --watch sluice="$SLUICE_PID" --watch broker="$MOSQUITTO_PID"
}

# memory_slow SUBSCRIBERS: memory growth with slow SSE subscribers of /live (QoS none: Sluice may
# disconnect a client whose buffer stays full; counted), the publisher into Mosquitto, against
# nchan (see memory_slow_workload).
memory_slow() {
  local subscribers=$1 name=memory-slow-sse-$1
  mqtt5_fresh
  memory_slow_workload "$name" "$subscribers" /live "/live QoS none, publisher: libmosquitto QoS 1; broker: Mosquitto RSS" \
    --broker-port "$MOSQUITTO_PORT" --topic "$MQTT_TOPIC" --pub-qos 1 \
    --mem sluice=rss:"$SLUICE_PID" --mem broker=rss:"$MOSQUITTO_PID" --watch sluice="$SLUICE_PID" --watch broker="$MOSQUITTO_PID"
}
