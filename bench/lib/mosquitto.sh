# A Mosquitto of the bench's own on 127.0.0.1:$MOSQUITTO_PORT (18990), in the foreground of a
# background job, with limits raised so that the broker never drops for the bench's sake.

MOSQUITTO_PORT=18990
MOSQUITTO_PID=""

mosquitto_start() {
  local conf="$OUT/mosquitto.conf"
  {
    echo "listener $MOSQUITTO_PORT 127.0.0.1"
    echo "allow_anonymous true"
    echo "persistence false"
    [ "$(id -u)" = 0 ] && echo "user root"
    echo "max_inflight_messages 1000"
    echo "max_queued_messages 1000000"
    echo "max_queued_bytes 0"
    echo "set_tcp_nodelay true"
    echo "log_dest stderr"
    echo "log_type error"
    echo "log_type warning"
  } >"$conf"
  if (exec 3<>"/dev/tcp/127.0.0.1/$MOSQUITTO_PORT") 2>/dev/null; then
    log "port $MOSQUITTO_PORT is taken (an earlier bench left running?)"
    exit 1
  fi
  mosquitto -c "$conf" >>"$OUT/mosquitto.log" 2>&1 &
  MOSQUITTO_PID=$!
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$MOSQUITTO_PORT") 2>/dev/null && return 0
    kill -0 "$MOSQUITTO_PID" 2>/dev/null || break
    sleep 0.1
  done
  cat "$OUT/mosquitto.log" >&2
  log "Mosquitto did not start"
  exit 1
}

# Restarts Mosquitto if it died since the previous workload (noted in the table's notes).
mosquitto_ensure() {
  if [ -n "$MOSQUITTO_PID" ] && ! kill -0 "$MOSQUITTO_PID" 2>/dev/null; then
    wait "$MOSQUITTO_PID" 2>/dev/null && status=0 || status=$?
    note "Mosquitto exited (status $status) before $1; restarted"
    MOSQUITTO_PID=""
    mosquitto_start
  fi
}

mosquitto_stop() {
  [ -n "$MOSQUITTO_PID" ] || return 0
  kill -TERM "$MOSQUITTO_PID" 2>/dev/null || true
  wait "$MOSQUITTO_PID" 2>/dev/null || true
  MOSQUITTO_PID=""
}

mosquitto_version() { { mosquitto -h 2>/dev/null || true; } | sed -n 's/^mosquitto version //p' | head -1; }
