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

  local s_err b_err statuses
  s_err=$(awk -F= '/^(non_expected|connect_errors|io_errors|closed_by_server|parse_errors)=/ {n += $2} END {print n + 0}' "$sl")
  b_err=$(awk -F= '/^(non_expected|publish_errors|disconnects)=/ {n += $2} END {print n + 0}' "$base")
  local settings="$connections conns, ${MQTT_MESSAGE_SIZE} B, ${PUBLISH_DURATION}s (+${WARMUP}s warm-up), QoS 1"
  row "$name" "acked/s" "$(fmt "$(kv "$sl" rate)" 0)" "$(fmt "$(kv "$base" rate)" 0)" "$(ratio "$(kv "$sl" rate)" "$(kv "$base" rate)")" \
    "$(kv "$sl" cpu_sluice)" "$(kv "$sl" cpu_broker)/$(kv "$base" cpu_broker)" "$(kv "$sl" cpu_loadgen)/$(kv "$base" cpu_loadgen)" \
    "$(rss_mb "$SLUICE_PID")" "$settings"
  local p
  for p in p50 p99 p999; do
    row "" "$p ms" "$(kv "$sl" latency_${p}_ms)" "$(kv "$base" latency_${p}_ms)" "$(ratio "$(kv "$sl" latency_${p}_ms)" "$(kv "$base" latency_${p}_ms)")" "" "" "" "" ""
  done
  row "" "not acked" "$s_err" "$b_err" "" "" "" "" "" ""
  local s_us b_us
  s_us=$(cpu_per_msg_us "$(kv "$sl" responses)" "$(kv "$sl" cpu_sluice)" "$(kv "$sl" cpu_broker)")
  b_us=$(cpu_per_msg_us "$(kv "$base" responses)" "$(kv "$base" cpu_broker)")
  row "" "server CPU us/msg" "$s_us" "$b_us" "$(ratio "$s_us" "$b_us")" "" "" "" "" ""
  if [ "$s_err" != 0 ]; then
    statuses=$(grep -E '^(status_[0-9]+|connect_errors|io_errors|closed_by_server|parse_errors)=' "$sl" | grep -v '^status_202=' | grep -v '=0$' | tr '\n' ' ')
    note "$name: Sluice: $statuses"
  fi
  [ "$b_err" = 0 ] || note "$name: baseline: $(grep -E '^(non_expected|publish_errors|disconnects)=' "$base" | tr '\n' ' ')"
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

  local settings="$subscribers subs, $rate msg/s x ${FANOUT_DURATION}s, ${MQTT_MESSAGE_SIZE} B, publish QoS 1, baseline sub QoS $MQTT_SUB_QOS"
  local s_pct b_pct
  s_pct=$(awk -v r="$(kv "$sl" delivery_ratio)" 'BEGIN { if (r == "") print "-"; else printf "%.3f", r * 100 }')
  b_pct=$(awk -v r="$(kv "$base" delivery_ratio)" 'BEGIN { if (r == "") print "-"; else printf "%.3f", r * 100 }')
  row "$name" "delivered %" "$s_pct" "$b_pct" "$(ratio "$s_pct" "$b_pct")" \
    "$(kv "$sl" cpu_sluice)" "$(kv "$sl" cpu_broker)/$(kv "$base" cpu_broker)" "$(kv "$sl" cpu_loadgen)/$(kv "$base" cpu_loadgen)" \
    "$(rss_mb "$SLUICE_PID")" "$settings"
  row "" "deliveries/s" "$(fmt "$(kv "$sl" deliveries_per_s)" 0)" "$(fmt "$(kv "$base" deliveries_per_s)" 0)" \
    "$(ratio "$(kv "$sl" deliveries_per_s)" "$(kv "$base" deliveries_per_s)")" "" "" "" "" ""
  local p
  for p in p50 p99 p999; do
    row "" "$p ms" "$(kv "$sl" latency_${p}_ms)" "$(kv "$base" latency_${p}_ms)" "$(ratio "$(kv "$sl" latency_${p}_ms)" "$(kv "$base" latency_${p}_ms)")" "" "" "" "" ""
  done
  local s_us b_us
  s_us=$(cpu_per_msg_us "$(kv "$sl" delivered)" "$(kv "$sl" cpu_sluice)" "$(kv "$sl" cpu_broker)")
  b_us=$(cpu_per_msg_us "$(kv "$base" delivered)" "$(kv "$base" cpu_broker)")
  row "" "server CPU us/deliv" "$s_us" "$b_us" "$(ratio "$s_us" "$b_us")" "" "" "" "" ""
  local f out
  for f in "$sl" "$base"; do
    [ -s "$f" ] || continue
    out=$(grep -E '^(ready|duplicates_or_reordered|stale|goaways|error_events|disconnects|bad_status|connect_errors|parse_errors|pub_errors)=' "$f" |
      awk -F= -v n="$subscribers" '($1 == "ready" && $2 != n) || ($1 != "ready" && $2 != 0)' | tr '\n' ' ')
    [ -z "$out" ] || note "$name: $([ "$f" = "$sl" ] && echo Sluice || echo baseline): $out"
  done
  sluice_log_note "$name" "$log_before"
}
