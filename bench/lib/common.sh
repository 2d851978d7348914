# Shared pieces of bench/run: setup, the load generators, the Sluice process, CPU and memory
# readings, the result table. Sourced by bench/run; workloads live in bench/workloads/*.sh.

log() { echo "bench: $*" >&2; }

# ---------- setup ----------

# Installs the Debian packages that are missing (like scripts/setup.sh).
ensure_packages() {
  local missing=() package
  for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  log "installing ${missing[*]}"
  apt_get() { if [ "$(id -u)" = 0 ]; then apt-get "$@"; else sudo apt-get "$@"; fi; }
  apt_get update -qq
  DEBIAN_FRONTEND=noninteractive apt_get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Compiles bench/tools/*.c into bench/.build/ when a source (or a tools/*.h) is newer than its binary.
# The Kafka tools link Debian's librdkafka-dev but load the librdkafka >= 2.2 of <repo>/.librdkafka
# first (rpath; see tools/kafka.h).
build_tools() {
  mkdir -p "$BENCH_DIR/.build"
  local source name binary header stale
  for source in "$BENCH_DIR"/tools/*.c; do
    name=$(basename "$source" .c)
    binary="$BENCH_DIR/.build/$name"
    stale=0
    if [ ! -x "$binary" ] || [ "$source" -nt "$binary" ]; then stale=1; fi
    for header in "$BENCH_DIR"/tools/*.h; do
      if [ "$header" -nt "$binary" ]; then stale=1; fi
    done
    if [ $stale = 1 ]; then
      gcc -O2 -Wall -Wextra -o "$binary" "$source" -Wl,--as-needed -lmosquitto -lrabbitmq -lrdkafka -lpthread \
        -Wl,-rpath,"$REPO/.librdkafka"
    fi
  done
}

# The Sluice binary: $SLUICE_BIN if set, else a release build of this checkout.
resolve_sluice() {
  if [ -n "${SLUICE_BIN:-}" ]; then
    [ -x "$SLUICE_BIN" ] || { log "SLUICE_BIN=$SLUICE_BIN is not an executable"; exit 1; }
    return
  fi
  export PATH="/opt/swift/usr/bin:$PATH"
  log "building Sluice (release; the first build takes a while)"
  (cd "$REPO" && swift build -c release --product sluice >"$OUT/swift-build.log" 2>&1) ||
    { tail -20 "$OUT/swift-build.log" >&2; log "the release build failed (log: $OUT/swift-build.log)"; exit 1; }
  SLUICE_BIN="$REPO/.build/release/sluice"
}

# The bench's ceiling for the publish path: nio-floor (bench/nio-floor), a bare SwiftNIO HTTP/1
# server answering 202, built in release mode from this checkout (it shares Sluice's packages).
resolve_nio_floor() {
  export PATH="/opt/swift/usr/bin:$PATH"
  (cd "$REPO" && swift build -c release --product nio-floor >"$OUT/swift-build-nio-floor.log" 2>&1) ||
    { tail -20 "$OUT/swift-build-nio-floor.log" >&2; log "the nio-floor build failed (log: $OUT/swift-build-nio-floor.log)"; exit 1; }
  NIO_FLOOR_BIN="$REPO/.build/release/nio-floor"
}

# The commit the Sluice binary was most likely built from: the checkout that holds it (a binary
# outside any checkout: unknown, with this checkout's commit for reference).
sluice_revision() {
  local dir
  dir=$(cd "$(dirname "$SLUICE_BIN")" && pwd -P)
  while [ "$dir" != / ] && [ ! -e "$dir/.git" ]; do dir=$(dirname "$dir"); done
  if [ -e "$dir/.git" ]; then
    git -C "$dir" rev-parse --short HEAD 2>/dev/null || echo '?'
  else
    echo "built outside a checkout; this one is at $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')"
  fi
}

# ---------- processes ----------

SLUICE_PID=""
SLUICE_PORT=18999
SLUICE_RESTARTS=0

# sluice_start DEFINITIONS_DIR READY_URL: starts Sluice and waits until POST READY_URL answers 202.
sluice_start() {
  local definitions=$1 ready_url=$2 i code
  # Binaries built before the management API have no --no-management (and no management listener).
  if [ -z "${SLUICE_SERVE_FLAGS+set}" ]; then
    SLUICE_SERVE_FLAGS=""
    case $("$SLUICE_BIN" serve --help 2>&1 || true) in *--no-management*) SLUICE_SERVE_FLAGS=--no-management ;; esac
  fi
  # shellcheck disable=SC2086
  "$SLUICE_BIN" serve --config "$definitions" --host 127.0.0.1 --port "$SLUICE_PORT" $SLUICE_SERVE_FLAGS --log-level warning \
    >>"$OUT/sluice.log" 2>&1 &
  SLUICE_PID=$!
  SLUICE_READY_URL=$ready_url
  SLUICE_DEFINITIONS=$definitions
  for i in $(seq 1 300); do
    code=$(curl -s -o /dev/null -w '%{http_code}' -X POST --data ready "$ready_url" 2>/dev/null || true)
    [ "$code" = 202 ] && return 0
    kill -0 "$SLUICE_PID" 2>/dev/null || { tail -20 "$OUT/sluice.log" >&2; log "Sluice exited at start"; exit 1; }
    if grep -q "API definition refused" "$OUT/sluice.log"; then
      grep "API definition refused" "$OUT/sluice.log" >&2
      log "Sluice refused the bench's API definition"
      exit 1
    fi
    sleep 0.2
  done
  tail -20 "$OUT/sluice.log" >&2
  log "Sluice did not answer 202 on $ready_url within 60 s (last status $code)"
  exit 1
}

sluice_stop() {
  [ -n "$SLUICE_PID" ] || return 0
  if kill -0 "$SLUICE_PID" 2>/dev/null; then
    kill -TERM "$SLUICE_PID" 2>/dev/null || true
    for _ in $(seq 1 150); do kill -0 "$SLUICE_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SLUICE_PID" 2>/dev/null || true
  fi
  wait "$SLUICE_PID" 2>/dev/null || true
  SLUICE_PID=""
}

# Restarts Sluice if it died during the previous workload (noted in the table's notes).
sluice_ensure() {
  if [ -n "$SLUICE_PID" ] && ! kill -0 "$SLUICE_PID" 2>/dev/null; then
    wait "$SLUICE_PID" 2>/dev/null && status=0 || status=$?
    note "Sluice exited (status $status) before $1; restarted"
    SLUICE_RESTARTS=$((SLUICE_RESTARTS + 1))
    SLUICE_PID=""
    sluice_start "$SLUICE_DEFINITIONS" "$SLUICE_READY_URL"
  fi
}

# A watchdog over the bench's Sluice during the workloads that open thousands of clients: Sluice
# makes broker connections (Kafka: a librdkafka consumer, 5 threads) per client at QoS none, and
# 10 000 of them would take every PID of the machine (pid_max, 32 768 on Debian) and gigabytes.
# Past SLUICE_MAX_THREADS threads (BENCH_SLUICE_MAX_THREADS; default 6000, fewer if pid_max / 5
# is less; 1000 Kafka clients take about 5000) or SLUICE_MAX_RSS_MB (BENCH_SLUICE_MAX_RSS_MB;
# default half the memory) the watchdog kills that Sluice (by PID) and the workload notes it; the
# load tool then sees its clients closed.
SLUICE_MAX_THREADS=${BENCH_SLUICE_MAX_THREADS:-$(awk '{ t = int($1 / 5); print (t > 6000 ? 6000 : t) }' /proc/sys/kernel/pid_max)}
SLUICE_MAX_RSS_MB=${BENCH_SLUICE_MAX_RSS_MB:-$(awk '/^MemTotal:/ { print int($2 / 2048) }' /proc/meminfo)}
WATCHDOG_PID=""

sluice_watchdog_start() {
  local pid=$SLUICE_PID
  rm -f "$OUT/watchdog.txt"
  [ -n "$pid" ] || return 0
  (
    set +e
    while kill -0 "$pid" 2>/dev/null; do
      read -r threads rss < <(awk '/^Threads:/ {t = $2} /^VmRSS:/ {r = int($2 / 1024)} END {print t + 0, r + 0}' "/proc/$pid/status" 2>/dev/null)
      if [ "${threads:-0}" -gt "$SLUICE_MAX_THREADS" ] || [ "${rss:-0}" -gt "$SLUICE_MAX_RSS_MB" ]; then
        kill -KILL "$pid" 2>/dev/null
        echo "$threads threads, $rss MB resident" >"$OUT/watchdog.txt"
        break
      fi
      sleep 0.3
    done
  ) &
  WATCHDOG_PID=$!
}

# sluice_watchdog_stop WORKLOAD: ends the watchdog; notes whether it killed Sluice.
sluice_watchdog_stop() {
  if [ -n "$WATCHDOG_PID" ]; then
    kill "$WATCHDOG_PID" 2>/dev/null || true
    wait "$WATCHDOG_PID" 2>/dev/null || true
    WATCHDOG_PID=""
  fi
  if [ -s "$OUT/watchdog.txt" ]; then
    note "$1: the bench killed Sluice at $(cat "$OUT/watchdog.txt") (limits: $SLUICE_MAX_THREADS threads, $SLUICE_MAX_RSS_MB MB; BENCH_SLUICE_MAX_THREADS, BENCH_SLUICE_MAX_RSS_MB)"
    rm -f "$OUT/watchdog.txt"
  fi
}

# Resident memory of a process in MB: "current/peak".
rss_mb() {
  local pid=$1
  [ -r "/proc/$pid/status" ] || { echo "gone"; return; }
  awk '/^VmRSS:/ {rss=$2} /^VmHWM:/ {hwm=$2} END {printf "%d/%d", rss/1024, hwm/1024}' "/proc/$pid/status"
}

# Lines Sluice logged since the given line count (warnings and errors; the level is warning).
sluice_log_lines() { wc -l <"$OUT/sluice.log"; }

# ---------- tool output ----------

# run_tool OUT WHAT COMMAND ARGS...: runs a load generator with its output in OUT and its errors in
# OUT.err, stopped after TOOL_LIMIT seconds (600 unless set). A tool that fails, is stopped or
# prints no complete output (window_s=, its last line) is noted and makes bench/run exit 1 at the
# end, so that CI notices a bench that rotted; a missed target never does.
run_tool() {
  local out=$1 what=$2 status=0 limit=${TOOL_LIMIT:-600}
  shift 2
  timeout --kill-after=10 "$limit" "$@" >"$out" 2>"$out.err" || status=$?
  if [ "$status" = 124 ] || [ "$status" = 137 ]; then
    tool_failed "$what did not finish within $limit s (stopped)"
  elif [ "$status" != 0 ]; then
    tool_failed "$what failed (status $status): $(tail -1 "$out.err")"
  elif ! grep -q '^window_s=' "$out"; then
    tool_failed "$what printed no result: $(tail -1 "$out.err")"
  fi
  return 0
}

tool_failed() {
  note "$1"
  echo "$1" >>"$OUT/failures.txt"
}

# kv FILE KEY: the value of KEY=value in a tool's output.
kv() { sed -n "s/^$2=//p" "$1" | tail -1; }

# kv_lines FILE KEY_REGEX: the KEY=value lines of these keys (nothing, and no failure, when there
# are none: a tool that died early prints little).
kv_lines() { grep -E "^($2)=" "$1" 2>/dev/null || true; }

# ratio A B: A / B with two decimals, "-" when either is missing or B is 0.
ratio() {
  awk -v a="$1" -v b="$2" 'BEGIN {
    if (a == "" || b == "" || a == "-" || b == "-" || b + 0 == 0) { print "-"; exit }
    printf "%.2f", a / b }'
}

# fmt NUMBER DECIMALS
fmt() { awk -v v="$1" -v d="$2" 'BEGIN { if (v == "" || v == "-") print "-"; else printf "%.*f", d, v }'; }

# ---------- the table ----------

ROWS_FILE=""
NOTES_FILE=""

# row WORKLOAD METRIC SLUICE BASELINE RATIO CPU_SLUICE CPU_BROKER CPU_LOADGEN SLUICE_RSS SETTINGS
row() {
  local IFS=$'\t'
  echo "$*" >>"$ROWS_FILE"
}

note() { echo "$*" >>"$NOTES_FILE"; log "note: $*"; }

print_table() {
  {
    printf 'workload\tmetric\tsluice\tbaseline\tratio\tcpu-s sluice\tcpu-s broker (s/b)\tcpu-s loadgen (s/b)\tsluice RSS MB\tsettings\n'
    cat "$ROWS_FILE"
  } | awk -F'\t' '
    { for (i = 1; i <= NF; i++) { cell[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) } n = NR; if (NF > nf) nf = NF }
    END {
      for (r = 1; r <= n; r++) {
        line = ""
        for (i = 1; i <= nf; i++) {
          right = (i >= 3 && i <= 9) && r > 1
          fmtspec = right ? "%" w[i] "s" : "%-" w[i] "s"
          line = line (i > 1 ? "  " : "") sprintf(fmtspec, cell[r, i])
        }
        sub(/ +$/, "", line); print line
        if (r == 1) { sep = ""; for (i = 1; i <= nf; i++) { s = ""; for (k = 0; k < w[i]; k++) s = s "-"; sep = sep (i > 1 ? "  " : "") s } print sep }
      }
    }'
  if [ -s "$NOTES_FILE" ]; then
    echo
    sed 's/^/note: /' "$NOTES_FILE"
  fi
}

# sluice_log_note WORKLOAD LINES_BEFORE: notes what Sluice logged (warning level and up) meanwhile,
# and whether it died.
sluice_log_note() {
  local now count first
  if [ -n "$SLUICE_PID" ] && ! kill -0 "$SLUICE_PID" 2>/dev/null; then
    note "$1: Sluice died during the workload (log: $OUT/sluice.log)"
  fi
  now=$(sluice_log_lines)
  count=$((now - $2))
  [ "$count" -gt 0 ] || return 0
  first=$(awk -v from="$(($2 + 1))" 'NR >= from && NF { print substr($0, 1, 220); exit }' "$OUT/sluice.log")
  note "$1: Sluice logged $count lines, first: $first"
}

# cpu_per_msg_us COUNT CPU_SECONDS...: microseconds of CPU per message, "-" if anything is missing.
cpu_per_msg_us() {
  local count=$1
  shift
  awk -v n="$count" -v list="$*" 'BEGIN {
    k = split(list, cpu, " "); total = 0
    if (n == "" || n + 0 == 0 || k == 0) { print "-"; exit }
    for (i = 1; i <= k; i++) { if (cpu[i] !~ /^[0-9.]+$/) { print "-"; exit } total += cpu[i] }
    printf "%.1f", total * 1e6 / n }'
}

# ---------- rows shared by the workload families ----------

# loadgen_busy_note NAME WHO FILE: notes when the load generator's main (epoll) thread was busy for
# more than 90 % of the measured window: then the client, not the server, may have set the figure.
# A yardstick figure (shared by the families) is noted once.
loadgen_busy_note() {
  local busy
  busy=$(awk -v c="$(kv "$3" cpu_loadgen_main)" -v w="$(kv "$3" window_s)" \
    'BEGIN { if (c == "" || w == "" || w + 0 == 0) exit; if (c / w > 0.9) printf "%.0f", 100 * c / w }')
  [ -n "$busy" ] || return 0
  case $3 in
    "$OUT"/yardstick/*)
      grep -qxF "busy $3" "$OUT/yardstick/noted" 2>/dev/null && return 0
      echo "busy $3" >>"$OUT/yardstick/noted"
      ;;
  esac
  note "$1: $2: the load generator's thread was busy $busy % of the measured window (it may be the bottleneck)"
}

# publish_rows NAME SLUICE_OUT BASELINE_OUT SETTINGS: the rows and notes of a POST workload
# (httpload through Sluice beside a native publisher that prints the same keys).
publish_rows() {
  local name=$1 sl=$2 base=$3 settings=$4
  local s_err b_err statuses
  s_err=$(awk -F= '/^(non_expected|connect_errors|io_errors|closed_by_server|parse_errors)=/ {n += $2} END {print n + 0}' "$sl")
  b_err=$(awk -F= '/^(non_expected|publish_errors|disconnects)=/ {n += $2} END {print n + 0}' "$base")
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
    statuses=$(kv_lines "$sl" 'status_[0-9]+|connect_errors|io_errors|closed_by_server|parse_errors' | awk '!/^status_202=/ && !/=0$/' | tr '\n' ' ')
    note "$name: Sluice: $statuses"
  fi
  [ "$b_err" = 0 ] || note "$name: baseline: $(grep -E '^(non_expected|returned|nacked|publish_errors|disconnects)=' "$base" | tr '\n' ' ')"
  loadgen_busy_note "$name" Sluice "$sl"
  loadgen_busy_note "$name" baseline "$base"
}

# fanout_rows NAME SUBSCRIBERS SLUICE_OUT BASELINE_OUT SETTINGS [EXPECTED] [BASELINE_SERVER]: the
# rows and notes of a fan-out workload (tools/fanout through Sluice beside tools/fanout against the
# broker, or against nginx + nchan when BASELINE_SERVER is nginx: the key of the baseline's server
# CPU, broker by default). EXPECTED: keys not to note (`reordered` for Kafka, whose order holds
# only per partition).
fanout_rows() {
  local name=$1 subscribers=$2 sl=$3 base=$4 settings=$5 expected=${6:-} server=${7:-broker}
  local base_label=baseline
  [ "$server" = broker ] || base_label=nchan
  local s_pct b_pct
  s_pct=$(awk -v r="$(kv "$sl" delivery_ratio)" 'BEGIN { if (r == "") print "-"; else printf "%.3f", r * 100 }')
  b_pct=$(awk -v r="$(kv "$base" delivery_ratio)" 'BEGIN { if (r == "") print "-"; else printf "%.3f", r * 100 }')
  row "$name" "delivered %" "$s_pct" "$b_pct" "$(ratio "$s_pct" "$b_pct")" \
    "$(kv "$sl" cpu_sluice)" "$(kv "$sl" cpu_broker)/$(kv "$base" "cpu_$server")" "$(kv "$sl" cpu_loadgen)/$(kv "$base" cpu_loadgen)" \
    "$(rss_mb "$SLUICE_PID")" "$settings"
  row "" "deliveries/s" "$(fmt "$(kv "$sl" deliveries_per_s)" 0)" "$(fmt "$(kv "$base" deliveries_per_s)" 0)" \
    "$(ratio "$(kv "$sl" deliveries_per_s)" "$(kv "$base" deliveries_per_s)")" "" "" "" "" ""
  local p
  for p in p50 p99 p999; do
    row "" "$p ms" "$(kv "$sl" latency_${p}_ms)" "$(kv "$base" latency_${p}_ms)" "$(ratio "$(kv "$sl" latency_${p}_ms)" "$(kv "$base" latency_${p}_ms)")" "" "" "" "" ""
  done
  local s_us b_us
  s_us=$(cpu_per_msg_us "$(kv "$sl" delivered)" "$(kv "$sl" cpu_sluice)" "$(kv "$sl" cpu_broker)")
  b_us=$(cpu_per_msg_us "$(kv "$base" delivered)" "$(kv "$base" "cpu_$server")")
  row "" "server CPU us/deliv" "$s_us" "$b_us" "$(ratio "$s_us" "$b_us")" "" "" "" "" ""
  local f out
  for f in "$sl" "$base"; do
    [ -s "$f" ] || continue
    out=$(kv_lines "$f" 'ready|duplicates|reordered|stale|goaways|error_events|disconnects|bad_status|connect_errors|parse_errors|pub_errors|pub_reconnects|pub_stuck' |
      awk -F= -v n="$subscribers" -v skip="$expected" '$1 != skip && (($1 == "ready" && $2 != n) || ($1 != "ready" && $2 != 0))' | tr '\n' ' ')
    [ -n "$out" ] || continue
    if [ "$f" = "$base" ] && [ "$server" != broker ]; then
      # A yardstick figure is shared by the families: noted once.
      grep -qxF "$f" "$OUT/yardstick/noted" 2>/dev/null && continue
      echo "$f" >>"$OUT/yardstick/noted"
    fi
    note "$name: $([ "$f" = "$sl" ] && echo Sluice || echo "$base_label"): $out"
  done
  loadgen_busy_note "$name" Sluice "$sl"
  loadgen_busy_note "$name" "$base_label" "$base"
}
