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

register_family mqtt5 mqtt5_up mqtt5_down
register_workload mqtt-post-64 mqtt5 "mqtt_post 64"
register_workload mqtt-post-256 mqtt5 "mqtt_post 256"
register_workload mqtt-sse-100 mqtt5 "mqtt_sse 100"
register_workload mqtt-sse-1000 mqtt5 "mqtt_sse 1000"

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
  "$TOOLS/mqttpub" --port "$MOSQUITTO_PORT" --topic "$MQTT_TOPIC" --connections "$connections" \
    --duration "$PUBLISH_DURATION" --warmup "$WARMUP" --size "$MQTT_MESSAGE_SIZE" --qos 1 \
    --watch broker="$MOSQUITTO_PID" >"$base" 2>"$base.err" || note "$name: the baseline tool failed: $(tail -1 "$base.err")"
  sluice_ensure "$name"
  log_before=$(sluice_log_lines)
  log "$name: Sluice: HTTP POST, $connections connections, ${PUBLISH_DURATION}s"
  "$TOOLS/httpload" --port "$SLUICE_PORT" --path /bench --connections "$connections" \
    --duration "$PUBLISH_DURATION" --warmup "$WARMUP" --size "$MQTT_MESSAGE_SIZE" --expect 202 \
    --watch sluice="$SLUICE_PID" --watch broker="$MOSQUITTO_PID" >"$sl" 2>"$sl.err" || note "$name: the load tool failed: $(tail -1 "$sl.err")"

  publish_rows "$name" "$sl" "$base" "$connections conns, ${MQTT_MESSAGE_SIZE} B, ${PUBLISH_DURATION}s (+${WARMUP}s warm-up), QoS 1"
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
  "$TOOLS/fanout" --mode mqtt "${common[@]}" --sub-qos "$MQTT_SUB_QOS" --share 1 \
    --watch broker="$MOSQUITTO_PID" >"$base" 2>"$base.err" || note "$name: the baseline tool failed: $(tail -1 "$base.err")"
  sluice_ensure "$name"
  log_before=$(sluice_log_lines)
  log "$name: Sluice: $subscribers SSE clients, $rate msg/s for ${FANOUT_DURATION}s"
  "$TOOLS/fanout" --mode sse "${common[@]}" --port "$SLUICE_PORT" --path /bench \
    --watch sluice="$SLUICE_PID" --watch broker="$MOSQUITTO_PID" >"$sl" 2>"$sl.err" || note "$name: the SSE tool failed: $(tail -1 "$sl.err")"

  fanout_rows "$name" "$subscribers" "$sl" "$base" \
    "$subscribers subs, $rate msg/s x ${FANOUT_DURATION}s, ${MQTT_MESSAGE_SIZE} B, publish QoS 1, baseline sub QoS $MQTT_SUB_QOS"
  sluice_log_note "$name" "$log_before"
}
