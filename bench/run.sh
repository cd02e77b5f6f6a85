#!/usr/bin/env bash
# Load benchmark: otlpgw and/or the OpenTelemetry Collector, one after the
# other under the same offered load, in one run. See bench/README.md.
#
#   bench/run.sh                      # both targets, flat out, 20 s each
#   RATE=100000 bench/run.sh          # both targets at a fixed 100k spans/s
#   TARGET=collector bench/run.sh     # one target only (otlpgw | collector | both)
#   PEER=collector bench/run.sh       # same as TARGET=both; PEER=none is TARGET=otlpgw
#
# Knobs (environment): DURATION seconds per target (default 20), WARMUP
# seconds excluded from the measurement (3), RATE spans/s (0 = flat out),
# WORKERS concurrent requests (8 flat out, 32 at a fixed rate so response
# latency on busy cores never caps the offered rate), CONNS gRPC connections (2), SPANS per
# request (100), ATTRS per span (10), BIN build directory (bench/.bin),
# KEEP=1 keeps the work directory with configs and logs, OUT=FILE appends
# one JSON line per target to FILE.
#
# Nothing is pinned: loadgen, sink and the target share this machine's cores.
# The target's CPU is read from its own /proc/PID/stat (utime+stime), which
# counts only what the target itself ran, however busy the cores are.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${BIN:-$ROOT/bench/.bin}
if [[ -z ${TARGET:-} ]]; then
	case ${PEER:-collector} in
	collector) TARGET=both ;;
	none) TARGET=otlpgw ;;
	*) echo "PEER must be collector or none (got ${PEER})" >&2; exit 2 ;;
	esac
fi
case $TARGET in
both) TARGETS=(otlpgw collector) ;;
otlpgw | collector) TARGETS=("$TARGET") ;;
*) echo "TARGET must be otlpgw, collector or both (got $TARGET)" >&2; exit 2 ;;
esac
RATE=${RATE:-0}
DURATION=${DURATION:-20}
WARMUP=${WARMUP:-3}
if [[ $RATE == 0 ]]; then WORKERS=${WORKERS:-8}; else WORKERS=${WORKERS:-32}; fi
CONNS=${CONNS:-2}
SPANS=${SPANS:-100}
ATTRS=${ATTRS:-10}
if ((WARMUP + 2 > DURATION)); then
	echo "DURATION ($DURATION) must exceed WARMUP ($WARMUP) by at least 2 s" >&2
	exit 2
fi
CLK_TCK=$(getconf CLK_TCK)

log() { printf '%s\n' "$*" >&2; }
die() { log "run.sh: $*"; exit 1; }

# --- build -------------------------------------------------------------------
mkdir -p "$BIN"
log "building loadgen and sink"
(cd "$ROOT" && go build -o "$BIN/loadgen" ./bench/loadgen && go build -o "$BIN/sink" ./bench/sink) ||
	die "building loadgen/sink failed"
for t in "${TARGETS[@]}"; do
	case $t in
	otlpgw)
		log "building otlpgw"
		(cd "$ROOT" && go build -o "$BIN/otlpgw" ./cmd/otlpgw) || die "building otlpgw failed (TARGET=collector runs the peer alone)"
		;;
	collector)
		log "building the Collector peer (bench/collector; the first build takes minutes)"
		(cd "$ROOT/bench/collector" && go build -o "$BIN/otelcol-bench" .) || die "building the Collector peer failed"
		;;
	esac
done

# --- processes ---------------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/otlpgw-bench.XXXXXX")
PIDS=()
forget() {
	local keep=() pid
	for pid in "${PIDS[@]}"; do [[ $pid == "$1" ]] || keep+=("$pid"); done
	PIDS=("${keep[@]}")
}
cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	if [[ ${KEEP:-0} == 1 ]]; then log "work directory kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

# free_port prints a loopback TCP port nobody listens on, below the
# ephemeral range so outgoing connections do not take it meanwhile.
USED_PORTS=" "
free_port() {
	local p
	for _ in $(seq 200); do
		p=$((20000 + RANDOM % 12000))
		[[ $USED_PORTS == *" $p "* ]] && continue
		if [[ -z $(ss -Hltn "sport = :$p") ]]; then
			USED_PORTS+="$p "
			echo "$p"
			return
		fi
	done
	die "no free port found"
}

# wait_listen PORT PID NAME: until something listens on PORT, failing if PID exits.
wait_listen() {
	local port=$1 pid=$2 name=$3
	for _ in $(seq 600); do
		[[ -n $(ss -Hltn "sport = :$port") ]] && return 0
		kill -0 "$pid" 2>/dev/null || die "$name exited during start-up; its log: $WORK/$name.log"$'\n'"$(tail -20 "$WORK/$name.log")"
		sleep 0.1
	done
	die "$name did not listen on $port within 60 s"
}

# cpu_ticks PID: utime+stime of the whole process (all threads), in clock ticks.
cpu_ticks() {
	local stat f
	read -r stat <"/proc/$1/stat"
	# Fields after the parenthesised command name start at field 3 (state),
	# so utime (14) and stime (15) are the 12th and 13th of what is left.
	read -ra f <<<"${stat##*) }"
	echo $((f[11] + f[12]))
}

# peak_rss_kib PID: VmHWM, the resident set's high-water mark since start.
peak_rss_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }

now_ns() { date +%s%N; }

sink_spans() { curl -fsS "http://$SINK_STATS/stats" | sed -E 's/.*"spans":([0-9]+).*/\1/'; }

"$BIN/sink" -listen 127.0.0.1:0 -stats 127.0.0.1:0 -duration 2h >"$WORK/sink.out" 2>"$WORK/sink.log" &
SINK_PID=$!
PIDS+=("$SINK_PID")
for _ in $(seq 100); do
	[[ -s $WORK/sink.out ]] && break
	sleep 0.1
done
SINK_GRPC=$(head -1 "$WORK/sink.out" | sed -E 's/.*"grpc":"([^"]+)".*/\1/')
SINK_STATS=$(head -1 "$WORK/sink.out" | sed -E 's/.*"stats":"([^"]+)".*/\1/')
[[ -n $SINK_GRPC && -n $SINK_STATS ]] || die "sink did not start: $(cat "$WORK/sink.log")"

write_config() {
	local target=$1 grpc=$2 aux1=$3 aux2=$4 cfg=$WORK/$1.yaml
	case $target in
	otlpgw)
		cat >"$cfg" <<EOF
receivers:
  otlp:
    grpc: {endpoint: 127.0.0.1:$grpc}
    http: {endpoint: 127.0.0.1:$aux1}
exporters:
  - name: sink
    type: otlp
    endpoint: $SINK_GRPC
    compression: none
    tls: {insecure: true}
admin: {endpoint: 127.0.0.1:$aux2}
EOF
		;;
	collector)
		# The Collector's own metrics stay on (as by default), on a free port.
		cat >"$cfg" <<EOF
receivers:
  otlp:
    protocols:
      grpc: {endpoint: 127.0.0.1:$grpc}
processors:
  batch: {}
exporters:
  otlp_grpc:
    endpoint: $SINK_GRPC
    compression: none
    tls: {insecure: true}
service:
  telemetry:
    metrics:
      readers:
        - pull:
            exporter:
              prometheus: {host: 127.0.0.1, port: $aux1}
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [otlp_grpc]
EOF
		;;
	esac
	echo "$cfg"
}

start_target() {
	local target=$1 cfg=$2
	case $target in
	otlpgw) "$BIN/otlpgw" run --config "$cfg" >"$WORK/$target.log" 2>&1 & ;;
	collector) "$BIN/otelcol-bench" --config "$cfg" >"$WORK/$target.log" 2>&1 & ;;
	esac
	TARGET_PID=$!
	PIDS+=("$TARGET_PID")
}

stop_target() {
	local pid=$1
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 300); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	forget "$pid"
}

# field NAME JSON: a scalar field of a one-line JSON object.
field() { sed -E "s/.*\"$1\":\"?([^,}\"]*).*/\1/" <<<"$2"; }

# --- measure -----------------------------------------------------------------
declare -A CPU_PER_M RSS_MIB RECV_RATE
ROWS=()
for t in "${TARGETS[@]}"; do
	grpc_port=$(free_port)
	cfg=$(write_config "$t" "$grpc_port" "$(free_port)" "$(free_port)")
	start_target "$t" "$cfg"
	pid=$TARGET_PID
	wait_listen "$grpc_port" "$pid" "$t"
	log "$t (pid $pid) listening on 127.0.0.1:$grpc_port; offering load for ${DURATION}s"

	"$BIN/loadgen" -endpoint "127.0.0.1:$grpc_port" -duration "${DURATION}s" -rate "$RATE" \
		-workers "$WORKERS" -conns "$CONNS" -spans "$SPANS" -attrs "$ATTRS" >"$WORK/loadgen-$t.json" 2>"$WORK/loadgen-$t.log" &
	lg_pid=$!
	PIDS+=("$lg_pid")
	sleep "$WARMUP"
	t0=$(now_ns) c0=$(cpu_ticks "$pid") s0=$(sink_spans) k0=$(cpu_ticks "$SINK_PID")
	wait "$lg_pid" || die "loadgen against $t failed: $(cat "$WORK/loadgen-$t.log" "$WORK/loadgen-$t.json")"
	forget "$lg_pid"
	t1=$(now_ns) s1=$(sink_spans)
	# Let batches still in the target reach the sink, so the spans counted
	# match the CPU spent on them.
	prev=-1 cur=$s1
	for _ in $(seq 40); do
		[[ $cur == "$prev" ]] && break
		sleep 0.3
		prev=$cur cur=$(sink_spans)
	done
	t2=$(now_ns) c2=$(cpu_ticks "$pid") s2=$(sink_spans) k2=$(cpu_ticks "$SINK_PID")
	hwm=$(peak_rss_kib "$pid")
	stop_target "$pid"

	lg=$(cat "$WORK/loadgen-$t.json")
	read -r recv_rate cpu_s cpu_per_m cores rss_mib sink_cores < <(awk -v s0="$s0" -v s1="$s1" -v s2="$s2" \
		-v t0="$t0" -v t1="$t1" -v t2="$t2" -v c0="$c0" -v c2="$c2" -v k0="$k0" -v k2="$k2" -v hz="$CLK_TCK" -v hwm="$hwm" 'BEGIN {
		cpu = (c2 - c0) / hz; spans = s2 - s0
		printf "%.0f %.2f %.3f %.2f %.1f %.2f\n", (s1 - s0) / ((t1 - t0) / 1e9), cpu, (spans > 0 ? cpu / spans * 1e6 : 0),
			cpu / ((t2 - t0) / 1e9), hwm / 1024, (k2 - k0) / hz / ((t2 - t0) / 1e9) }')
	CPU_PER_M[$t]=$cpu_per_m RSS_MIB[$t]=$rss_mib RECV_RATE[$t]=$recv_rate
	offered=$([[ $RATE == 0 ]] && echo "flat" || echo "$RATE")
	ROWS+=("$(printf '%-10s %9s %10s %12s %7s %12s %9s %7s %8s %8s' "$t" "$offered" "$recv_rate" "$cpu_per_m" "$cores" "$rss_mib" \
		"$(field spans_refused "$lg")" "$(field errors "$lg")" "$(awk -v c="$(field loadgen_cpu_s "$lg")" -v d="$(field elapsed_s "$lg")" 'BEGIN{printf "%.2f", c/d}')" "$sink_cores")")
	printf '{"target":"%s","rate_offered":%s,"spans_per_s":%s,"cpu_s":%s,"cpu_s_per_million_spans":%s,"cores":%s,"peak_rss_mib":%s,"loadgen":%s}\n' \
		"$t" "$RATE" "$recv_rate" "$cpu_s" "$cpu_per_m" "$cores" "$rss_mib" "$lg" >>"$WORK/results.jsonl"
	[[ -z ${OUT:-} ]] || tail -1 "$WORK/results.jsonl" >>"$OUT"
	grep -q '"errors":0' <<<"$lg" || log "warning: loadgen saw errors against $t: $(field first_error "$lg")"
	if [[ $RATE != 0 ]] && ((recv_rate * 100 < RATE * 98)); then
		log "warning: $t received $recv_rate spans/s of the $RATE offered: it fell behind, or loadgen was starved of CPU"
	fi
done

# --- report ------------------------------------------------------------------
bytes=$(field bytes_per_span "$lg")
echo
printf 'mode: %s; %s s per target (%s s warm-up excluded); %s spans/request, %s attributes/span (%.0f B/span); %s workers on %s connections\n' \
	"$([[ $RATE == 0 ]] && echo "flat out" || echo "fixed rate $RATE spans/s")" "$DURATION" "$WARMUP" "$SPANS" "$ATTRS" "$bytes" "$WORKERS" "$CONNS"
echo "machine: $(nproc) cores shared, unpinned, by loadgen, sink and the target; CPU = the target's utime+stime from /proc/PID/stat; peak RSS = VmHWM"
printf '%-10s %9s %10s %12s %7s %12s %9s %7s %8s %8s\n' target offered/s spans/s CPU-s/Mspan cores peakRSSMiB refused errors loadgen sink
printf '%s\n' "${ROWS[@]}"
if [[ $TARGET == both ]]; then
	awk -v gc="${CPU_PER_M[otlpgw]}" -v cc="${CPU_PER_M[collector]}" -v gr="${RSS_MIB[otlpgw]}" -v cr="${RSS_MIB[collector]}" \
		-v flat="$([[ $RATE == 0 ]] && echo 1 || echo 0)" 'BEGIN {
		printf "ratio otlpgw/collector: CPU per span %.2fx (target <= 0.25x), peak RSS %.2fx (target <= 0.25x)%s\n",
			(cc > 0 ? gc / cc : 0), (cr > 0 ? gr / cr : 0), (flat ? "; flat out, so each ran at its own throughput: compare at a fixed RATE" : "") }'
fi
[[ -z ${OUT:-} ]] || echo "per-target JSON appended to $OUT"
