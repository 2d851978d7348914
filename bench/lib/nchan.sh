# The yardstick: nginx with the nchan pub/sub module (Debian's nginx and libnginx-mod-nchan) on
# 127.0.0.1:$NCHAN_PORT (18980), configured by bench/nchan/nginx.conf (a template filled here:
# port, workers, limits, the run's files under $OUT/nginx). Started lazily by the first workload
# that needs it, in the foreground of a background job (`daemon off`), and left up until the end of
# the run (bench/run's cleanup stops it by PID), so that each yardstick figure is measured once per
# run and reused (cached in $OUT/yardstick/).
#
#   POST /pub/bench   nchan publisher (201 when the channel has subscribers, 202 otherwise)
#   GET  /sub/bench   nchan subscriber: EventSource or WebSocket
#   POST /ok          plain nginx: reads and discards the body, answers 202

NCHAN_PORT=18980
NIO_FLOOR_PORT=18996
NCHAN_PID=""
NCHAN_CONF_TEMPLATE="$BENCH_DIR/nchan/nginx.conf"
# nchan's message buffer is kept small, so that memory measures connections, not stored messages.
NCHAN_BUFFER_LENGTH=${BENCH_NCHAN_BUFFER_LENGTH:-4}
NCHAN_MESSAGE_TIMEOUT=${BENCH_NCHAN_MESSAGE_TIMEOUT:-10s}
NCHAN_SHM=${BENCH_NCHAN_SHM:-128m}
# auto: one per CPU (2 here, as Sluice has one event loop per core).
NCHAN_WORKERS=${BENCH_NCHAN_WORKERS:-auto}

nchan_start() {
  ensure_packages nginx libnginx-mod-nchan
  [ -f /usr/lib/nginx/modules/ngx_nchan_module.so ] || { log "no /usr/lib/nginx/modules/ngx_nchan_module.so (libnginx-mod-nchan)"; exit 1; }
  if (exec 3<>"/dev/tcp/127.0.0.1/$NCHAN_PORT") 2>/dev/null; then
    log "port $NCHAN_PORT is taken (an earlier bench left nginx running?)"
    exit 1
  fi
  local dir="$OUT/nginx" nofile workers
  mkdir -p "$dir/tmp"
  nofile=$(ulimit -n)
  workers=$NCHAN_WORKERS
  [ "$workers" = auto ] && workers=$(nproc)
  sed -e "s|@USER@|$([ "$(id -u)" = 0 ] && echo 'user root;')|" \
    -e "s|@WORKERS@|$workers|" -e "s|@NOFILE@|$nofile|" -e "s|@CONNECTIONS@|$((nofile - 100))|" \
    -e "s|@DIR@|$dir|g" -e "s|@PORT@|$NCHAN_PORT|" -e "s|@SHM@|$NCHAN_SHM|" \
    -e "s|@BUFFER_LENGTH@|$NCHAN_BUFFER_LENGTH|" -e "s|@MESSAGE_TIMEOUT@|$NCHAN_MESSAGE_TIMEOUT|" \
    "$NCHAN_CONF_TEMPLATE" >"$dir/nginx.conf"
  nginx -c "$dir/nginx.conf" -p "$dir/" -e "$dir/error.log" >>"$OUT/nginx.log" 2>&1 &
  NCHAN_PID=$!
  local code=""
  for _ in $(seq 1 100); do
    code=$(curl -s -o /dev/null -w '%{http_code}' -X POST --data ready "http://127.0.0.1:$NCHAN_PORT/ok" 2>/dev/null || true)
    if [ "$code" = 202 ] && [ "$(nchan_worker_pids | wc -w)" -ge "$workers" ]; then
      NCHAN_WORKER_COUNT=$workers
      return 0
    fi
    kill -0 "$NCHAN_PID" 2>/dev/null || break
    sleep 0.1
  done
  cat "$OUT/nginx.log" "$dir/error.log" 2>/dev/null | tail -20 >&2
  log "nginx + nchan did not start (last status $code)"
  exit 1
}

nchan_worker_pids() { [ -z "$NCHAN_PID" ] || { ps -o pid= --ppid "$NCHAN_PID" 2>/dev/null || true; } | tr -d ' ' | tr '\n' ' '; }

# The master and its workers, for --watch and --mem: "master+worker+worker".
nchan_pids() { echo "$NCHAN_PID $(nchan_worker_pids)" | xargs | tr ' ' '+'; }

# Starts nginx the first time a workload needs it; restarts it if it died (noted).
nchan_ensure() {
  if [ -n "$NCHAN_PID" ] && ! kill -0 "$NCHAN_PID" 2>/dev/null; then
    wait "$NCHAN_PID" 2>/dev/null && status=0 || status=$?
    note "nginx + nchan exited (status $status) before $1; restarted"
    NCHAN_PID=""
  fi
  if [ -z "$NCHAN_PID" ]; then
    log "starting nginx + nchan on :$NCHAN_PORT"
    nchan_start
    if [ -z "${NCHAN_SETTINGS_SHOWN:-}" ]; then
      SETTINGS_LINE+=" Yardstick: $(nchan_settings)."
      NCHAN_SETTINGS_SHOWN=1
    fi
  fi
}

# A fresh nginx (the memory workloads: what earlier workloads left in the workers' free lists
# would hide growth).
nchan_fresh() {
  [ -z "$NCHAN_PID" ] || nchan_stop
  nchan_ensure "$1"
}

nchan_stop() {
  [ -n "$NCHAN_PID" ] || return 0
  local workers
  workers=$(nchan_worker_pids)
  kill -TERM "$NCHAN_PID" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$NCHAN_PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$NCHAN_PID" 2>/dev/null || true
  wait "$NCHAN_PID" 2>/dev/null || true
  local pid
  for pid in $workers; do kill -KILL "$pid" 2>/dev/null || true; done
  NCHAN_PID=""
}

nchan_settings() {
  local nginx_version nchan_version
  nginx_version=$(nginx -v 2>&1 | sed -n 's|^nginx version: nginx/||p')
  nchan_version=$(dpkg-query -W -f='${Version}' libnginx-mod-nchan 2>/dev/null | sed -e 's/^[0-9]*://' -e 's/[+-].*//')
  echo "nginx $nginx_version + nchan $nchan_version on :$NCHAN_PORT (bench/nchan/nginx.conf: ${NCHAN_WORKER_COUNT:-?} workers, nchan_message_buffer_length $NCHAN_BUFFER_LENGTH, nchan_message_timeout $NCHAN_MESSAGE_TIMEOUT, nchan_shared_memory_size $NCHAN_SHM, access log off)"
}

# ---------- yardstick figures, measured once per run ----------

# yardstick_publish CONNECTIONS SIZE: sets YARDSTICK_PUB, YARDSTICK_OK and YARDSTICK_NIO to the
# outputs of the nchan publish, the nginx 202 and the bare SwiftNIO 202 (nio-floor) for this
# connection count and body size, measuring them the first time (the three families share them).
# Not in $(...): it may start nginx.
yardstick_publish() {
  local connections=$1 size=$2 dir="$OUT/yardstick"
  local pub="$dir/nchan-pub-$connections-$size.txt" ok="$dir/nginx-ok-$connections-$size.txt"
  local nio="$dir/nio-floor-$connections-$size.txt"
  mkdir -p "$dir"
  if [ ! -s "$pub" ] || [ ! -s "$ok" ]; then
    nchan_ensure "the yardstick's publish at $connections connections"
    log "yardstick: nchan publish, $connections connections, ${PUBLISH_DURATION}s"
    run_tool "$pub" "yardstick nchan publish ($connections connections)" \
      "$TOOLS/httpload" --port "$NCHAN_PORT" --path /pub/bench --connections "$connections" \
      --duration "$PUBLISH_DURATION" --warmup "$WARMUP" --size "$size" --expect 201,202 --watch nginx="$(nchan_pids)"
    log "yardstick: nginx 202, $connections connections, ${PUBLISH_DURATION}s"
    run_tool "$ok" "yardstick nginx 202 ($connections connections)" \
      "$TOOLS/httpload" --port "$NCHAN_PORT" --path /ok --connections "$connections" \
      --duration "$PUBLISH_DURATION" --warmup "$WARMUP" --size "$size" --expect 202 --watch nginx="$(nchan_pids)"
  fi
  if [ ! -s "$nio" ]; then
    log "yardstick: bare SwiftNIO 202 (nio-floor), $connections connections, ${PUBLISH_DURATION}s"
    nio_floor_measure "$nio" "yardstick SwiftNIO 202" "$connections" "$size" --
  fi
  YARDSTICK_PUB=$pub
  YARDSTICK_OK=$ok
  YARDSTICK_NIO=$nio
}

# nio_floor_measure OUT WHAT CONNECTIONS SIZE [--watch broker=PID ...] -- [NIO_FLOOR_ARGS...]: starts
# nio-floor on :$NIO_FLOOR_PORT with NIO_FLOOR_ARGS, measures it with httpload into OUT, stops it.
nio_floor_measure() {
  local out=$1 what=$2 connections=$3 size=$4 watch=()
  shift 4
  while [ $# -gt 0 ] && [ "$1" != -- ]; do watch+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  "$NIO_FLOOR_BIN" "$NIO_FLOOR_PORT" "$@" >"$out.server.log" 2>&1 &
  NIO_FLOOR_PID=$!
  local up=0
  for _ in $(seq 1 100); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' -X POST --data ready "http://127.0.0.1:$NIO_FLOOR_PORT/ok" 2>/dev/null || true)" = 202 ] && { up=1; break; }
    sleep 0.1
  done
  if [ $up = 1 ]; then
    run_tool "$out" "$what ($connections connections)" \
      "$TOOLS/httpload" --port "$NIO_FLOOR_PORT" --path /ok --connections "$connections" \
      --duration "$PUBLISH_DURATION" --warmup "$WARMUP" --size "$size" --expect 202 --watch server="$NIO_FLOOR_PID" "${watch[@]}"
  else
    tool_failed "$what: nio-floor did not answer on :$NIO_FLOOR_PORT (log: $out.server.log)"
  fi
  nio_floor_stop
}

# publish_ceiling_rows SLUICE_OUT NAME CONNECTIONS SIZE BROKER BROKER_PID NIO_FLOOR_ARGS...: the row
# comparing a POST workload's Sluice figure with nio-floor publishing to the same broker with
# Sluice's own client (NIO_FLOOR_ARGS: --kafka ... or --mqtt ...), measured right after Sluice:
# what a gateway on SwiftNIO with that client could answer here with no gateway work at all.
publish_ceiling_rows() {
  local sl=$1 name=$2 connections=$3 size=$4 broker=$5 broker_pid=$6 out="$OUT/$2.nio-floor.txt"
  shift 6
  log "$name: ceiling: bare SwiftNIO server publishing to $broker with Sluice's client, $connections connections, ${PUBLISH_DURATION}s"
  nio_floor_measure "$out" "$name: SwiftNIO → $broker" "$connections" "$size" --watch broker="$broker_pid" -- "$@"
  [ -s "$out" ] || return 0
  row "" "acked/s vs SwiftNIO→$broker" "$(fmt "$(kv "$sl" rate)" 0)" "$(fmt "$(kv "$out" rate)" 0)" "$(ratio "$(kv "$sl" rate)" "$(kv "$out" rate)")" \
    "" "$(kv "$sl" cpu_broker)/$(kv "$out" cpu_broker)" "$(kv "$sl" cpu_loadgen)/$(kv "$out" cpu_loadgen)" "" \
    "ceiling: bench/nio-floor $*, $connections conns, $size B, server CPU $(kv "$out" cpu_server) s; p50 $(kv "$out" latency_p50_ms) ms, p99 $(kv "$out" latency_p99_ms) ms"
  local errors
  errors=$(awk -F= '/^(non_expected|connect_errors|io_errors|closed_by_server|parse_errors)=/ {n += $2} END {print n + 0}' "$out")
  [ "$errors" = 0 ] || note "$name: SwiftNIO → $broker: $(kv_lines "$out" 'status_[0-9]+|connect_errors|io_errors|closed_by_server|parse_errors' | awk '!/=0$/' | tr '\n' ' ')"
  loadgen_busy_note "$name" "SwiftNIO → $broker" "$out"
}

NIO_FLOOR_PID=""
nio_floor_stop() {
  [ -n "$NIO_FLOOR_PID" ] || return 0
  kill "$NIO_FLOOR_PID" 2>/dev/null || true
  wait "$NIO_FLOOR_PID" 2>/dev/null || true
  NIO_FLOOR_PID=""
}

# yardstick_publish_rows SLUICE_OUT CONNECTIONS SIZE: the rows comparing a POST workload's Sluice
# figure with nchan's publisher, nginx's plain 202 and a bare SwiftNIO server's 202 (the most any
# gateway on SwiftNIO's HTTP/1 server could answer here, with no broker behind it) at the same
# connections and size.
yardstick_publish_rows() {
  local sl=$1 connections=$2 size=$3 f label metric errors server
  yardstick_publish "$connections" "$size"
  for f in "$YARDSTICK_PUB" "$YARDSTICK_OK" "$YARDSTICK_NIO"; do
    server=nginx
    case $f in
      "$YARDSTICK_PUB") label="nchan pub"; metric="POST /pub/bench, 201/202 counted" ;;
      "$YARDSTICK_OK") label="nginx 202"; metric="POST /ok, nginx 'return 202'" ;;
      *) label="SwiftNIO 202"; metric="POST /ok, bare SwiftNIO HTTP/1 server (bench/nio-floor), nothing published"; server=server ;;
    esac
    [ -s "$f" ] || continue
    row "" "acked/s vs $label" "$(fmt "$(kv "$sl" rate)" 0)" "$(fmt "$(kv "$f" rate)" 0)" "$(ratio "$(kv "$sl" rate)" "$(kv "$f" rate)")" \
      "" "$(kv "$sl" cpu_broker)/$(kv "$f" "cpu_$server")" "$(kv "$sl" cpu_loadgen)/$(kv "$f" cpu_loadgen)" "" \
      "yardstick: $metric, $connections conns, $size B (measured once per run); p99 $(kv "$f" latency_p99_ms) ms"
    errors=$(awk -F= '/^(non_expected|connect_errors|io_errors|closed_by_server|parse_errors)=/ {n += $2} END {print n + 0}' "$f")
    [ "$errors" = 0 ] || [ -n "$(grep -x "$f" "$OUT/yardstick/noted" 2>/dev/null)" ] || {
      note "yardstick $label ($connections conns): $(kv_lines "$f" 'status_[0-9]+|connect_errors|io_errors|closed_by_server|parse_errors' | awk '!/=0$/' | tr '\n' ' ')"
      echo "$f" >>"$OUT/yardstick/noted"
    }
    loadgen_busy_note "yardstick" "$label ($connections conns)" "$f"
  done
}

# yardstick_fanout MODE SUBSCRIBERS RATE SIZE DURATION: sets YARDSTICK_OUT to nchan's output for a
# live fan-out (MODE sse or ws, the publisher POSTing to /pub/bench), measuring it the first time.
# Not in $(...): it may start nginx.
yardstick_fanout() {
  local mode=$1 subscribers=$2 rate=$3 size=$4 duration=$5 dir="$OUT/yardstick"
  local out="$dir/nchan-$mode-$subscribers-$rate-$size-$duration.txt"
  mkdir -p "$dir"
  if [ ! -s "$out" ]; then
    nchan_ensure "the yardstick's $mode fan-out to $subscribers"
    log "yardstick: nchan, $subscribers $mode subscribers, $rate msg/s for ${duration}s"
    TOOL_LIMIT=$(live_tool_limit "$subscribers" "$duration") run_tool "$out" "yardstick nchan $mode fan-out ($subscribers subscribers)" \
      "$TOOLS/fanout" --mode "$mode" --subscribers "$subscribers" --rate "$rate" --duration "$duration" --size "$size" \
      --drain "$DRAIN" --ready-timeout "$(live_ready_timeout "$subscribers")" --port "$NCHAN_PORT" --path /sub/bench \
      --pub http --pub-url "http://127.0.0.1:$NCHAN_PORT/pub/bench" --watch nginx="$(nchan_pids)"
  fi
  YARDSTICK_OUT=$out
}

# ---------- live fan-out: Sluice's /live API (QoS none) against nchan ----------

# Offered load in deliveries per second: rate = LIVE_LOAD / subscribers messages per second.
LIVE_LOAD=${BENCH_LIVE_LOAD:-100000}
LIVE_MESSAGE_SIZE=100

live_rate() { awk -v l="$LIVE_LOAD" -v n="$1" 'BEGIN { r = l / n; if (r == int(r)) printf "%d", r; else printf "%.2f", r }'; }

# Seconds for N clients to connect and have a first probe: 30 s + 10 ms per client, short: 15 s +
# 4 ms per client (BENCH_LIVE_READY_TIMEOUT overrides).
live_ready_timeout() {
  if [ "$short" = 1 ]; then
    echo "${BENCH_LIVE_READY_TIMEOUT:-$((15 + $1 / 250))}"
  else
    echo "${BENCH_LIVE_READY_TIMEOUT:-$((30 + $1 / 100))}"
  fi
}

# The most a fan-out tool may take: connecting, the run, the drain, closing.
live_tool_limit() { echo $(($(live_ready_timeout "$1") + ${2%.*} + ${DRAIN%.*} + 90)); }

# live_fanout NAME MODE SUBSCRIBERS SETTINGS EXPECTED FANOUT_ARGS...: a live fan-out workload. First
# nchan (cached per run), then N MODE (sse or ws) clients of Sluice's /live API at QoS none, fed by
# the family's publisher straight into the broker (FANOUT_ARGS: its options and the --watch ones).
# EXPECTED: a key not to note (see fanout_rows).
live_fanout() {
  local name=$1 mode=$2 subscribers=$3 settings=$4 expected=$5
  shift 5
  local rate sl="$OUT/$name.sluice.txt" base log_before
  rate=$(live_rate "$subscribers")
  yardstick_fanout "$mode" "$subscribers" "$rate" "$LIVE_MESSAGE_SIZE" "$FANOUT_DURATION"
  base=$YARDSTICK_OUT
  log_before=$(sluice_log_lines)
  log "$name: Sluice: $subscribers $mode clients of /live (QoS none), $rate msg/s for ${FANOUT_DURATION}s"
  sluice_watchdog_start
  TOOL_LIMIT=$(live_tool_limit "$subscribers" "$FANOUT_DURATION") run_tool "$sl" "$name: the $mode tool" \
    "$TOOLS/fanout" --mode "$mode" --subscribers "$subscribers" --rate "$rate" --duration "$FANOUT_DURATION" \
    --size "$LIVE_MESSAGE_SIZE" --drain "$DRAIN" --ready-timeout "$(live_ready_timeout "$subscribers")" \
    --port "$SLUICE_PORT" --path /live "$@"
  sluice_watchdog_stop "$name"
  fanout_rows "$name" "$subscribers" "$sl" "$base" \
    "$subscribers $mode subs, $rate msg/s x ${FANOUT_DURATION}s, $LIVE_MESSAGE_SIZE B, /live QoS none; $settings; baseline: nchan, POSTs pipelined on one connection" \
    "$expected" nginx
  sluice_log_note "$name" "$log_before"
}

# ---------- memory: idle connections and slow subscribers, against nchan ----------

# Slow subscribers: each reads SLOW_BPS bytes per second through a SLOW_RCVBUF-byte socket receive
# buffer while SLOW_RATE messages of SLOW_SIZE bytes are published per second for SLOW_DURATION s.
SLOW_RATE=${BENCH_SLOW_RATE:-1000}
SLOW_SIZE=${BENCH_SLOW_SIZE:-1024}
SLOW_BPS=${BENCH_SLOW_BPS:-300}
SLOW_RCVBUF=${BENCH_SLOW_RCVBUF:-4096}

# kb_of BYTES: kilobytes with one decimal (or MB of KB), "-" when missing or negative (gone).
kb_of() { awk -v b="$1" 'BEGIN { if (b == "" || b == "-" || b < 0) print "-"; else printf "%.1f", b / 1024 }'; }

# memory_idle_workload NAME SUBSCRIBERS PATH SETTINGS FANOUT_ARGS...: the server's memory per idle
# SSE connection. nchan: a fresh nginx, N EventSource clients of /sub/bench, nginx's PSS (master +
# workers, so that its shared memory counts once) before the first connects and 2 s after the last
# has its headers and a first line. Sluice (made fresh by the caller): N SSE clients of PATH, RSS
# (FANOUT_ARGS: --mem sluice=rss:PID, --mem broker=..., --watch ...). Nothing is published.
memory_idle_workload() {
  local name=$1 subscribers=$2 path=$3 settings=$4
  shift 4
  local base="$OUT/$name.nchan.txt" sl="$OUT/$name.sluice.txt" ready_timeout limit log_before
  ready_timeout=$(live_ready_timeout "$subscribers")
  limit=$((ready_timeout + 90))
  nchan_fresh "$name"
  log "$name: nchan: $subscribers idle EventSource clients"
  TOOL_LIMIT=$limit run_tool "$base" "$name: the nchan tool" \
    "$TOOLS/fanout" --mode sse --idle 1 --subscribers "$subscribers" --port "$NCHAN_PORT" --path /sub/bench \
    --ready-timeout "$ready_timeout" --mem nginx=pss:"$(nchan_pids)" --watch nginx="$(nchan_pids)"
  log_before=$(sluice_log_lines)
  log "$name: Sluice: $subscribers idle SSE clients of $path"
  sluice_watchdog_start
  TOOL_LIMIT=$limit run_tool "$sl" "$name: the SSE tool" \
    "$TOOLS/fanout" --mode sse --idle 1 --subscribers "$subscribers" --port "$SLUICE_PORT" --path "$path" \
    --ready-timeout "$ready_timeout" "$@"
  sluice_watchdog_stop "$name"
  local s_kb b_kb
  s_kb=$(kb_of "$(kv "$sl" mem_sluice_per_conn_bytes)")
  b_kb=$(kb_of "$(kv "$base" mem_nginx_per_conn_bytes)")
  row "$name" "KB per idle conn" "$s_kb" "$b_kb" "$(ratio "$s_kb" "$b_kb")" \
    "$(kv "$sl" cpu_sluice)" "$(kv "$sl" cpu_broker)/$(kv "$base" cpu_nginx)" "$(kv "$sl" cpu_loadgen)/$(kv "$base" cpu_loadgen)" \
    "$(rss_mb "$SLUICE_PID")" \
    "$subscribers idle SSE clients of $path, nothing published; Sluice RSS, nginx PSS (master + workers), read before the first connects and 2 s after the last is ready; fresh servers; $settings"
  row "" "idle conns" "$(kv "$sl" idle_ready)" "$(kv "$base" idle_ready)" "" "" "" "" "" ""
  row "" "connect s" "$(kv "$sl" connect_s)" "$(kv "$base" connect_s)" "$(ratio "$(kv "$sl" connect_s)" "$(kv "$base" connect_s)")" "" "" "" "" ""
  row "" "server MB before" "$(kb_of "$(kv "$sl" mem_sluice_before_kb)")" "$(kb_of "$(kv "$base" mem_nginx_before_kb)")" "" "" "" "" "" ""
  row "" "server MB after" "$(kb_of "$(kv "$sl" mem_sluice_after_kb)")" "$(kb_of "$(kv "$base" mem_nginx_after_kb)")" "" "" "" "" "" ""
  [ -z "$(kv "$sl" mem_broker_per_conn_bytes)" ] ||
    row "" "broker KB per conn" "$(kb_of "$(kv "$sl" mem_broker_per_conn_bytes)")" "-" "" "" "" "" "" ""
  local f out
  for f in "$sl" "$base"; do
    [ -s "$f" ] || continue
    out=$(kv_lines "$f" 'opened|idle_ready|disconnects|bad_status|connect_errors|parse_errors|error_events|goaways' |
      awk -F= -v n="$subscribers" '(($1 == "opened" || $1 == "idle_ready") && $2 != n) || ($1 != "opened" && $1 != "idle_ready" && $2 != 0)' | tr '\n' ' ')
    [ -z "$out" ] || note "$name: $([ "$f" = "$sl" ] && echo Sluice || echo nchan): $out"
  done
  sluice_log_note "$name" "$log_before"
}

# yardstick_slow SUBSCRIBERS: sets YARDSTICK_OUT to nchan's slow-subscriber output (a fresh nginx,
# the publisher POSTing to /pub/bench), measuring it the first time.
yardstick_slow() {
  local subscribers=$1 dir="$OUT/yardstick"
  local out="$dir/nchan-slow-$subscribers-$SLOW_RATE-$SLOW_SIZE-$SLOW_DURATION-$SLOW_BPS.txt"
  mkdir -p "$dir"
  if [ ! -s "$out" ]; then
    nchan_fresh "the yardstick's slow subscribers"
    log "yardstick: nchan, $subscribers slow EventSource clients, $SLOW_RATE msg/s of $SLOW_SIZE B for ${SLOW_DURATION}s"
    TOOL_LIMIT=$((SLOW_DURATION + 200)) run_tool "$out" "yardstick nchan slow subscribers" \
      "$TOOLS/fanout" --mode sse --slow 1 --slow-bps "$SLOW_BPS" --rcvbuf "$SLOW_RCVBUF" --subscribers "$subscribers" \
      --rate "$SLOW_RATE" --size "$SLOW_SIZE" --duration "$SLOW_DURATION" --drain "$DRAIN" \
      --port "$NCHAN_PORT" --path /sub/bench --pub http --pub-url "http://127.0.0.1:$NCHAN_PORT/pub/bench" \
      --mem nginx=pss:"$(nchan_pids)" --watch nginx="$(nchan_pids)"
  fi
  YARDSTICK_OUT=$out
}

# memory_slow_workload NAME SUBSCRIBERS PATH SETTINGS FANOUT_ARGS...: memory growth with slow
# subscribers. nchan (cached per run, fresh nginx): N EventSource clients reading SLOW_BPS bytes/s
# while the publisher POSTs; nginx's PSS every second. Sluice (made fresh by the caller): N SSE
# clients of PATH (FANOUT_ARGS: the family's publisher, --mem sluice=rss:PID, --mem broker=...,
# --watch ...). Growth = memory at the end of the publishing - at its start; then the clients read
# at full speed for the drain time, so that streams the server closed are counted (disconnected).
memory_slow_workload() {
  local name=$1 subscribers=$2 path=$3 settings=$4
  shift 4
  local base sl="$OUT/$name.sluice.txt" log_before
  yardstick_slow "$subscribers"
  base=$YARDSTICK_OUT
  log_before=$(sluice_log_lines)
  log "$name: Sluice: $subscribers slow SSE clients of $path, $SLOW_RATE msg/s of $SLOW_SIZE B for ${SLOW_DURATION}s"
  TOOL_LIMIT=$((SLOW_DURATION + 200)) run_tool "$sl" "$name: the SSE tool" \
    "$TOOLS/fanout" --mode sse --slow 1 --slow-bps "$SLOW_BPS" --rcvbuf "$SLOW_RCVBUF" --subscribers "$subscribers" \
    --rate "$SLOW_RATE" --size "$SLOW_SIZE" --duration "$SLOW_DURATION" --drain "$DRAIN" \
    --port "$SLUICE_PORT" --path "$path" "$@"
  local s_pct b_pct
  row "$name" "growth MB" "$(kv "$sl" mem_sluice_growth_mb)" "$(kv "$base" mem_nginx_growth_mb)" \
    "$(ratio "$(kv "$sl" mem_sluice_growth_mb)" "$(kv "$base" mem_nginx_growth_mb)")" \
    "$(kv "$sl" cpu_sluice)" "$(kv "$sl" cpu_broker)/$(kv "$base" cpu_nginx)" "$(kv "$sl" cpu_loadgen)/$(kv "$base" cpu_loadgen)" \
    "$(rss_mb "$SLUICE_PID")" \
    "$subscribers SSE clients of $path reading $SLOW_BPS B/s each (SO_RCVBUF $SLOW_RCVBUF), $SLOW_RATE msg/s x $SLOW_SIZE B for ${SLOW_DURATION}s; Sluice RSS, nginx PSS (master + workers) every second; fresh servers; $settings"
  row "" "max growth MB" "$(kv "$sl" mem_sluice_max_growth_mb)" "$(kv "$base" mem_nginx_max_growth_mb)" \
    "$(ratio "$(kv "$sl" mem_sluice_max_growth_mb)" "$(kv "$base" mem_nginx_max_growth_mb)")" "" "" "" "" ""
  row "" "server MB at start" "$(kb_of "$(kv "$sl" mem_sluice_start_kb)")" "$(kb_of "$(kv "$base" mem_nginx_start_kb)")" "" "" "" "" "" ""
  row "" "disconnected" "$(kv "$sl" disconnects)" "$(kv "$base" disconnects)" "" "" "" "" "" ""
  [ -z "$(kv "$sl" mem_broker_growth_mb)" ] ||
    row "" "broker growth MB" "$(kv "$sl" mem_broker_growth_mb)" "-" "" "" "" "" "" ""
  s_pct=$(awk -v r="$(kv "$sl" delivery_ratio)" 'BEGIN { if (r == "") print "-"; else printf "%.3f", r * 100 }')
  b_pct=$(awk -v r="$(kv "$base" delivery_ratio)" 'BEGIN { if (r == "") print "-"; else printf "%.3f", r * 100 }')
  row "" "delivered %" "$s_pct" "$b_pct" "" "" "" "" "" ""
  local f out
  for f in "$sl" "$base"; do
    [ -s "$f" ] || continue
    out=$(kv_lines "$f" 'ready|bad_status|connect_errors|parse_errors|pub_errors|pub_reconnects|pub_stuck' |
      awk -F= -v n="$subscribers" '($1 == "ready" && $2 != n) || ($1 != "ready" && $2 != 0)' | tr '\n' ' ')
    [ -z "$out" ] || note "$name: $([ "$f" = "$sl" ] && echo Sluice || echo nchan): $out"
  done
  sluice_log_note "$name" "$log_before"
}
