#!/usr/bin/env bash
# Load benchmark: otlpgw and/or the OpenTelemetry Collector, one after the
# other under the same offered load, in one run. See bench/README.md.
#
#   bench/run.sh                      # both targets, flat out, 20 s each
#   RATE=100000 bench/run.sh          # both targets at a fixed 100k spans/s
#   TARGET=collector bench/run.sh     # one target only (otlpgw | collector | both)
#   PEER=collector bench/run.sh       # same as TARGET=both; PEER=none is TARGET=otlpgw
#   SCENARIO=S2 bench/run.sh          # traces through drop, fix, limits, redact
#   SCENARIO=S3 bench/run.sh          # the same for log records
#
# Knobs (environment): SCENARIO (S1 pass-through traces, the default; S2
# traces and S3 logs through the four filters, or the Collector's filter and
# transform processors), DURATION seconds per target (default 20), WARMUP
# seconds excluded from the measurement (3), RATE items/s (0 = flat out),
# WORKERS concurrent requests (8 flat out, 32 at a fixed rate so response
# latency on busy cores never caps the offered rate), CONNS gRPC connections (2), SPANS per
# request (100), ATTRS per item (10), VERIFY (S2/S3: the sink decodes every
# VERIFYth request and counts what the filters should have removed; 8, 0 =
# off), BIN build directory (bench/.bin), KEEP=1 keeps the work directory
# with configs and logs, OUT=FILE appends one JSON line per target to FILE.
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
SCENARIO=${SCENARIO:-S1}
case $SCENARIO in
S1) SIGNAL=traces MIX=false ;;
S2) SIGNAL=traces MIX=true ;;
S3) SIGNAL=logs MIX=true ;;
*) echo "SCENARIO must be S1, S2 or S3 (got $SCENARIO)" >&2; exit 2 ;;
esac
if [[ $MIX == true ]]; then VERIFY=${VERIFY:-8}; else VERIFY=${VERIFY:-0}; fi
if [[ $SIGNAL == traces ]]; then ITEM=span ITEMS=spans STATS_KEY=spans; else ITEM=rec ITEMS=records STATS_KEY=log_records; fi
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

. "$ROOT/bench/lib.sh"

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

# sink_spans prints how many items of the scenario's signal the sink has
# received (spans, or log records for S3).
sink_spans() { curl -fsS "http://$SINK_STATS/stats" | sed -E "s/.*\"$STATS_KEY\":([0-9]+).*/\1/"; }
# sink_verify prints the sink's verify counters as one line: verified items,
# health checks, passwords, long values and resources without
# deployment.environment still found.
sink_verify() {
	curl -fsS "http://$SINK_STATS/stats" | sed -E 's/.*"verified_items":([0-9]+).*"health_checks_left":([0-9]+),"passwords_left":([0-9]+),"long_values_left":([0-9]+),"resources_without_env":([0-9]+).*/\1 \2 \3 \4 \5/'
}

"$BIN/sink" -listen 127.0.0.1:0 -stats 127.0.0.1:0 -duration 2h -verify "$VERIFY" >"$WORK/sink.out" 2>"$WORK/sink.log" &
SINK_PID=$!
PIDS+=("$SINK_PID")
for _ in $(seq 100); do
	[[ -s $WORK/sink.out ]] && break
	sleep 0.1
done
SINK_GRPC=$(head -1 "$WORK/sink.out" | sed -E 's/.*"grpc":"([^"]+)".*/\1/')
SINK_STATS=$(head -1 "$WORK/sink.out" | sed -E 's/.*"stats":"([^"]+)".*/\1/')
[[ -n $SINK_GRPC && -n $SINK_STATS ]] || die "sink did not start: $(cat "$WORK/sink.log")"

# The S2/S3 health-check rule: span names (S2) or log bodies (S3).
HEALTH_RE='^(GET|HEAD) /(healthz|readyz|livez)$'

# otlpgw_filters prints the filters: block of the scenario: the four stock
# filters in order, each with the config its example.yaml gives for the
# benchmark, on_error: pass and the default timeout (deadline enforcement
# is always on).
otlpgw_filters() {
	[[ $MIX == true ]] || return 0
	local rule
	if [[ $SIGNAL == traces ]]; then rule="name_regex: '$HEALTH_RE'"; else rule="body_regex: '$HEALTH_RE'"; fi
	cat <<EOF
# Exactly the job the Collector's filter and transform processors do, no
# more: fix's timestamp clamp and limits' attribute cap are turned off. The
# deadline stays enforced; 1 s rather than the 50 ms default keeps a call
# descheduled on the busy shared cores from passing data unfiltered.
filters:
  - name: drop
    module: builtin:drop
    on_error: pass
    timeout: 1s
    config:
      rules:
        - $rule
  - name: fix
    module: builtin:fix
    on_error: pass
    timeout: 1s
    config:
      resource_defaults:
        deployment.environment: unknown
      max_future: "0"
  - name: limits
    module: builtin:limits
    on_error: pass
    timeout: 1s
    config:
      max_value_length: 256
      max_attributes: 0
  - name: redact
    module: builtin:redact
    on_error: pass
    timeout: 1s
    config:
      delete_keys: [password]
EOF
}

# collector_processors prints the processors: block, a line "--", and the
# pipeline's processor list, for the scenario. With the mix the filter
# processor drops what the drop filter drops and the transform processor
# does what fix, limits and redact do, in that order, before the batch
# processor. The resource statements form their own group so that they run
# once per resource, not once per item.
collector_processors() {
	if [[ $MIX != true ]]; then
		printf 'processors:\n  batch: {}\n--\n[batch]\n'
		return
	fi
	local ctx=span cond=trace_conditions stmts=trace_statements target=span.name
	if [[ $SIGNAL == logs ]]; then ctx=log cond=log_conditions stmts=log_statements target=log.body; fi
	cat <<EOF
processors:
  batch: {}
  filter:
    error_mode: ignore
    $cond:
      - IsMatch($target, "$HEALTH_RE")
  transform:
    error_mode: ignore
    $stmts:
      - statements:
          - set(resource.attributes["deployment.environment"], "unknown") where resource.attributes["deployment.environment"] == nil
          - set(resource.attributes["service.name"], "unknown_service") where resource.attributes["service.name"] == nil
      - statements:
          - truncate_all($ctx.attributes, 256)
          - delete_key($ctx.attributes, "password")
--
[filter, transform, batch]
EOF
}

write_config() {
	local target=$1 grpc=$2 aux1=$3 aux2=$4 cfg=$WORK/$1.yaml
	case $target in
	otlpgw)
		cat >"$cfg" <<EOF
receivers:
  otlp:
    grpc: {endpoint: 127.0.0.1:$grpc}
    http: {endpoint: 127.0.0.1:$aux1}
$(otlpgw_filters)
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
		local procs
		procs=$(collector_processors)
		# The Collector's own metrics stay on (as by default), on a free port.
		cat >"$cfg" <<EOF
receivers:
  otlp:
    protocols:
      grpc: {endpoint: 127.0.0.1:$grpc}
${procs%%$'\n'--$'\n'*}
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
    $SIGNAL:
      receivers: [otlp]
      processors: ${procs##*$'\n'--$'\n'}
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


# --- measure -----------------------------------------------------------------
declare -A CPU_PER_M RSS_MIB RECV_RATE
ROWS=() CHECKS=() FAILED=0
for t in "${TARGETS[@]}"; do
	grpc_port=$(free_port) aux1=$(free_port) aux2=$(free_port)
	cfg=$(write_config "$t" "$grpc_port" "$aux1" "$aux2")
	start_target "$t" "$cfg"
	pid=$TARGET_PID
	wait_listen "$grpc_port" "$pid" "$t"
	log "$t (pid $pid) listening on 127.0.0.1:$grpc_port; offering load for ${DURATION}s"

	sb=$(sink_spans) vb=$(sink_verify)
	"$BIN/loadgen" -endpoint "127.0.0.1:$grpc_port" -duration "${DURATION}s" -rate "$RATE" \
		-workers "$WORKERS" -conns "$CONNS" -spans "$SPANS" -attrs "$ATTRS" -signal "$SIGNAL" -mix="$MIX" \
		>"$WORK/loadgen-$t.json" 2>"$WORK/loadgen-$t.log" &
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
	# otlpgw counts every batch a filter failed on (trap, timeout, oom,
	# bad output) and passed on unfiltered (on_error: pass).
	failures=-
	if [[ $t == otlpgw ]]; then
		curl -fsS "http://127.0.0.1:$aux2/metrics" >"$WORK/metrics-$t.txt" || true
		# "N", or "N (filter/kind n, ...)" naming the failures.
		failures=$(awk '/^otlpgw_filter_failures_total/ && $NF > 0 {
			s += $NF; f = $0; sub(/.*filter="/, "", f); sub(/".*/, "", f); k = $0; sub(/.*kind="/, "", k); sub(/".*/, "", k)
			d = d (d == "" ? "" : ", ") f "/" k " " $NF } END { print s + 0 (d == "" ? "" : " (" d ")") }' "$WORK/metrics-$t.txt")
	fi
	stop_target "$pid"
	# A clean stop flushes what the target still held: every item it
	# accepted has reached the sink now.
	s3=$(sink_spans) va=$(sink_verify)

	lg=$(cat "$WORK/loadgen-$t.json")
	sent=$(field spans_ok "$lg") kept=$(field items_kept_expected "$lg")
	# Items are counted at the target's input: what the sink received
	# times sent/kept, the inverse of the fraction the drop rule keeps
	# (exactly 1 in S1). Every pass over the pool drops the same items, so
	# over a window of hundreds of passes the factor is exact to 0.1%.
	read -r recv_rate cpu_s cpu_per_m cores rss_mib sink_cores < <(awk -v s0="$s0" -v s1="$s1" -v s2="$s2" \
		-v t0="$t0" -v t1="$t1" -v t2="$t2" -v c0="$c0" -v c2="$c2" -v k0="$k0" -v k2="$k2" -v hz="$CLK_TCK" -v hwm="$hwm" \
		-v sent="$sent" -v kept="$kept" 'BEGIN {
		in_per_out = (kept > 0 ? sent / kept : 1)
		cpu = (c2 - c0) / hz; spans = (s2 - s0) * in_per_out
		printf "%.0f %.2f %.3f %.2f %.1f %.2f\n", (s1 - s0) * in_per_out / ((t1 - t0) / 1e9), cpu, (spans > 0 ? cpu / spans * 1e6 : 0),
			cpu / ((t2 - t0) / 1e9), hwm / 1024, (k2 - k0) / hz / ((t2 - t0) / 1e9) }')
	# The check: the sink got exactly the items the drop rule keeps, and
	# the requests it decoded hold nothing the filters remove.
	read -r vi vh vp vl ve < <(awk -v a="$va" -v b="$vb" 'BEGIN { n = split(a, x, " "); split(b, y, " ")
		for (i = 1; i <= n; i++) printf "%d ", x[i] - y[i]; print "" }')
	delivered=$((s3 - sb))
	check=ok
	if [[ $MIX == true ]]; then
		((delivered == kept && vh == 0 && vp == 0 && vl == 0 && ve == 0)) || check=FAILED
		[[ $failures == - || $failures == 0 ]] || check=FAILED # batches passed on unfiltered
		((VERIFY == 0 || vi > 0)) || check=FAILED
		CHECKS+=("$(printf '%-10s sent %d %s, %d (%.2f%%) match the drop rule; sink got %d, %s %d; of %d checked, health checks %d, passwords %d, values >256 B %d, resources without deployment.environment %d; filter failures %s: %s' \
			"$t" "$sent" "$ITEMS" "$((sent - kept))" "$(awk -v s="$sent" -v k="$kept" 'BEGIN{print (s > 0 ? 100 * (s - k) / s : 0)}')" \
			"$delivered" "$([[ $delivered == "$kept" ]] && echo "as expected:" || echo "expected")" "$kept" "$vi" "$vh" "$vp" "$vl" "$ve" "$failures" "$check")")
		[[ $check == ok ]] || FAILED=1
	elif ((delivered != sent)); then
		# S1 only reports a loss; its figures stay comparable with older runs.
		check=LOSS
		CHECKS+=("$(printf '%-10s sent %d %s, sink got %d' "$t" "$sent" "$ITEMS" "$delivered")")
	fi
	CPU_PER_M[$t]=$cpu_per_m RSS_MIB[$t]=$rss_mib RECV_RATE[$t]=$recv_rate
	offered=$([[ $RATE == 0 ]] && echo "flat" || echo "$RATE")
	ROWS+=("$(printf '%-10s %9s %10s %12s %7s %12s %9s %7s %8s %8s %6s' "$t" "$offered" "$recv_rate" "$cpu_per_m" "$cores" "$rss_mib" \
		"$(field spans_refused "$lg")" "$(field errors "$lg")" "$(awk -v c="$(field loadgen_cpu_s "$lg")" -v d="$(field elapsed_s "$lg")" 'BEGIN{printf "%.2f", c/d}')" "$sink_cores" "$check")")
	# spans_per_s and cpu_s_per_million_spans count items of the scenario's
	# signal (log records in S3), at the target's input; their names predate
	# the scenarios.
	printf '{"target":"%s","scenario":"%s","signal":"%s","rate_offered":%s,"spans_per_s":%s,"cpu_s":%s,"cpu_s_per_million_spans":%s,"cores":%s,"peak_rss_mib":%s,"delivered":%s,"expected":%s,"check":"%s","verify_left":[%s],"filter_failures":"%s","loadgen":%s}\n' \
		"$t" "$SCENARIO" "$SIGNAL" "$RATE" "$recv_rate" "$cpu_s" "$cpu_per_m" "$cores" "$rss_mib" "$delivered" "$kept" "$check" \
		"$vh,$vp,$vl,$ve" "$failures" "$lg" >>"$WORK/results.jsonl"
	[[ -z ${OUT:-} ]] || tail -1 "$WORK/results.jsonl" >>"$OUT"
	grep -q '"errors":0' <<<"$lg" || log "warning: loadgen saw errors against $t: $(field first_error "$lg")"
	if [[ $RATE != 0 ]] && ((recv_rate * 100 < RATE * 98)); then
		log "warning: $t took $recv_rate $ITEMS/s of the $RATE offered: it fell behind, or loadgen was starved of CPU"
	fi
done

# --- report ------------------------------------------------------------------
bytes=$(field bytes_per_span "$lg")
echo
printf 'scenario %s (%s%s); mode: %s; %s s per target (%s s warm-up excluded); %s %s/request, %s attributes/%s (%.0f B/%s); %s workers on %s connections\n' \
	"$SCENARIO" "$SIGNAL" "$([[ $MIX == true ]] && echo ": drop, fix, limits, redact | filter, transform" || echo ", pass-through")" \
	"$([[ $RATE == 0 ]] && echo "flat out" || echo "fixed rate $RATE $ITEMS/s")" "$DURATION" "$WARMUP" "$SPANS" "$ITEMS" "$ATTRS" "$ITEM" "$bytes" "$ITEM" "$WORKERS" "$CONNS"
echo "machine: $(nproc) cores shared, unpinned, by loadgen, sink and the target; CPU = the target's utime+stime from /proc/PID/stat; peak RSS = VmHWM"
[[ $MIX == true ]] && echo "$ITEMS/s and CPU per item count the items the target took in (the sink's count times sent/kept)"
printf '%-10s %9s %10s %12s %7s %12s %9s %7s %8s %8s %6s\n' target offered/s "$ITEMS/s" "CPU-s/M$ITEM" cores peakRSSMiB refused errors loadgen sink check
printf '%s\n' "${ROWS[@]}"
((${#CHECKS[@]} == 0)) || printf '%s\n' "${CHECKS[@]}"
if [[ $TARGET == both ]]; then
	awk -v gc="${CPU_PER_M[otlpgw]}" -v cc="${CPU_PER_M[collector]}" -v gr="${RSS_MIB[otlpgw]}" -v cr="${RSS_MIB[collector]}" \
		-v flat="$([[ $RATE == 0 ]] && echo 1 || echo 0)" -v item="$ITEM" \
		-v goal="$([[ $MIX == true ]] && echo "0.4x" || echo "0.25x")" -v rssgoal="$([[ $MIX == true ]] || echo " (target <= 0.25x)")" 'BEGIN {
		printf "ratio otlpgw/collector: CPU per %s %.2fx (target <= %s), peak RSS %.2fx%s%s\n", item,
			(cc > 0 ? gc / cc : 0), goal, (cr > 0 ? gr / cr : 0), rssgoal, (flat ? "; flat out, so each ran at its own throughput: compare at a fixed RATE" : "") }'
fi
[[ -z ${OUT:-} ]] || echo "per-target JSON appended to $OUT"
((FAILED == 0)) || die "a target did not deliver what the scenario expects (see the check lines above)"
