#!/usr/bin/env bash
# Operator acceptance for issue 16: the persistent queue on a real, small
# file system that fills up. Not part of CI (it needs root to mount).
#
#   sudo bench/diskfull.sh            # 64 MiB tmpfs, 20 s of load with the upstream down
#   SIZE=32m FILL=10 bench/diskfull.sh
#
# What it does, with the real binaries (./cmd/otlpgw, bench/loadgen,
# bench/sink):
#   1. mounts a tmpfs of SIZE (default 64m) and points queue.persistent at
#      it, with queue.max_bytes far larger, so the disk fills first;
#   2. starts otlpgw with its upstream down (nothing listens on the sink's
#      port) and offers load from loadgen for FILL seconds (default 20);
#   3. checks that the disk filled, that refusals were retryable (gRPC
#      UNAVAILABLE with RetryInfo from loadgen, HTTP 503 with Retry-After
#      from curl), and that /readyz is 503 with a storage_error;
#   4. brings the sink up and checks that the disk empties and /readyz
#      returns to 200 by itself (no restart, nothing deleted by hand);
#   5. offers load for AFTER seconds (default 5), which must be accepted;
#   6. stops otlpgw (a clean stop delivers what it holds) and prints
#      acknowledged (loadgen's spans answered OK), delivered (spans the sink
#      counted) and lost (acknowledged - delivered, never below 0; delivery
#      is at least once, so delivered may exceed acknowledged).
#
# Knobs (environment): SIZE, FILL, AFTER, RATE (spans/s offered, 0 = flat
# out; default 0), WORKERS (8), BIN (bench/.bin), KEEP=1 keeps the work
# directory (configs, logs, loadgen output). Exit status 0 only if every
# check passed.
set -euo pipefail

if [[ $(id -u) != 0 ]]; then
	echo "diskfull.sh: needs root: it mounts a tmpfs (mount -t tmpfs -o size=SIZE) to fill a real file system. Run it as root, or with sudo; CI does not run it." >&2
	exit 2
fi
for cmd in mount umount curl ss df go; do
	command -v "$cmd" >/dev/null || { echo "diskfull.sh: needs $cmd" >&2; exit 2; }
done

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${BIN:-$ROOT/bench/.bin}
SIZE=${SIZE:-64m}
FILL=${FILL:-20}
AFTER=${AFTER:-5}
RATE=${RATE:-0}
WORKERS=${WORKERS:-8}

. "$ROOT/bench/lib.sh"
FAILED=0
check() { # check NAME CONDITION-RESULT(0/1) DETAIL
	if [[ $2 == 0 ]]; then log "  ok      $1: $3"; else log "  FAILED  $1: $3"; FAILED=1; fi
}

mkdir -p "$BIN"
log "building otlpgw, loadgen and sink"
(cd "$ROOT" && go build -o "$BIN/otlpgw" ./cmd/otlpgw && go build -o "$BIN/loadgen" ./bench/loadgen && go build -o "$BIN/sink" ./bench/sink) ||
	die "build failed"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/otlpgw-diskfull.XXXXXX")
MNT=$WORK/disk
mkdir -p "$MNT"
PIDS=()
cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
	if mountpoint -q "$MNT"; then umount "$MNT" || log "could not unmount $MNT"; fi
	if [[ ${KEEP:-0} == 1 ]]; then log "work directory kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
mount -t tmpfs -o "size=$SIZE" otlpgw-diskfull "$MNT" || die "mount -t tmpfs failed"

# until_true SECONDS WHAT CMD...: polls CMD every 0.2 s; fails after SECONDS.
until_true() {
	local limit=$1 what=$2
	shift 2
	for _ in $(seq $((limit * 5))); do
		"$@" && return 0
		sleep 0.2
	done
	log "  gave up after ${limit}s waiting for $what"
	return 1
}
disk_used_kib() { df -k --output=used "$MNT" | tail -1 | tr -d ' '; }
disk_avail_kib() { df -k --output=avail "$MNT" | tail -1 | tr -d ' '; }
readyz_code() { curl -s -o "$WORK/readyz.json" -w '%{http_code}' "http://127.0.0.1:$ADMIN/readyz"; }
metric() { curl -fsS "http://127.0.0.1:$ADMIN/metrics" | awk -v m="$1" 'index($0, m) == 1 { s += $NF } END { print s + 0 }'; }

GRPC=$(free_port) HTTP=$(free_port) ADMIN=$(free_port) SINK=$(free_port)
cat >"$WORK/otlpgw.yaml" <<EOF
receivers:
  otlp:
    grpc: {endpoint: 127.0.0.1:$GRPC}
    http: {endpoint: 127.0.0.1:$HTTP}
queue:
  max_bytes: 1GiB
  persistent: {directory: $MNT/queue}
exporters:
  - name: sink
    type: otlp
    endpoint: 127.0.0.1:$SINK
    compression: none
    tls: {insecure: true}
    retry: {initial_interval: 100ms, max_interval: 1s, max_elapsed_time: 1h}
admin: {endpoint: 127.0.0.1:$ADMIN}
shutdown_timeout: 60s
EOF
"$BIN/otlpgw" run --config "$WORK/otlpgw.yaml" >"$WORK/otlpgw.log" 2>&1 &
GW_PID=$!
PIDS+=("$GW_PID")
wait_listen "$GRPC" "$GW_PID" otlpgw
log "otlpgw (pid $GW_PID) on 127.0.0.1:$GRPC, queue on a $SIZE tmpfs at $MNT; upstream 127.0.0.1:$SINK is down"

# --- 1. fill the disk under load, upstream down ------------------------------
log "phase 1: ${FILL}s of load with the upstream down"
"$BIN/loadgen" -endpoint "127.0.0.1:$GRPC" -duration "${FILL}s" -rate "$RATE" -workers "$WORKERS" >"$WORK/loadgen-fill.json" 2>"$WORK/loadgen-fill.log" ||
	die "loadgen failed: $(cat "$WORK/loadgen-fill.log")"
LG1=$(cat "$WORK/loadgen-fill.json")
ok1=$(field spans_ok "$LG1") ref1=$(field requests_refused "$LG1") noretry1=$(field requests_refused_without_retry_info "$LG1") err1=$(field errors "$LG1")
avail=$(disk_avail_kib) used_full=$(disk_used_kib)
check "disk filled" "$((avail < 1024 ? 0 : 1))" "${used_full} KiB used, ${avail} KiB free"
check "gRPC refusals retryable" "$((ref1 > 0 && noretry1 == 0 && err1 == 0 ? 0 : 1))" "$ref1 requests refused UNAVAILABLE, $noretry1 of them without RetryInfo, $err1 other errors"
# Nothing is written while no request comes: the journal stays unhealthy.
rcode=$(readyz_code)
serr=$(sed -nE 's/.*"storage_error": "([^"]*)".*/\1/p' "$WORK/readyz.json" | head -1)
check "/readyz unready" "$([[ $rcode == 503 && -n $serr ]] && echo 0 || echo 1)" "HTTP $rcode, storage_error: ${serr:-none}"
healthy=$(metric 'otlpgw_queue_journal_healthy{')
refused_storage=$(curl -fsS "http://127.0.0.1:$ADMIN/metrics" | awk '/^otlpgw_receiver_refused_items_total/ && /reason="storage"/ { s += $NF } END { print s + 0 }')
werr=$(curl -fsS "http://127.0.0.1:$ADMIN/metrics" | awk '/^otlpgw_queue_journal_write_errors_total/ { s += $NF } END { print s + 0 }')
check "metrics" "$([[ $healthy == 0 && $refused_storage != 0 ]] && echo 0 || echo 1)" "queue_journal_healthy $healthy, journal write errors $werr, receiver_refused_items_total{reason=storage} $refused_storage"
# One OTLP/HTTP request by hand, larger than the space left (a smaller one
# that fits is stored and acknowledged, as it should be): 503 with
# Retry-After.
pad=$(head -c $(((avail + 256) * 1024)) /dev/zero | tr '\0' a)
printf '{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"probe","startTimeUnixNano":"1","endTimeUnixNano":"2","attributes":[{"key":"pad","value":{"stringValue":"%s"}}]}]}]}]}' "$pad" >"$WORK/probe.json"
hdr=$(curl -s -o /dev/null -D - -H 'Content-Type: application/json' --data-binary "@$WORK/probe.json" "http://127.0.0.1:$HTTP/v1/traces" | tr -d '\r')
hcode=$(awk 'NR == 1 { print $2 }' <<<"$hdr") retry_after=$(awk -F': ' 'tolower($1) == "retry-after" { print $2 }' <<<"$hdr")
check "HTTP refusal retryable" "$([[ $hcode == 503 && -n $retry_after ]] && echo 0 || echo 1)" "HTTP $hcode, Retry-After: ${retry_after:-none} (a $(((avail + 256))) KiB request)"
probe_acked=0
[[ $hcode == 200 ]] && probe_acked=1

# --- 2. the upstream comes back ----------------------------------------------
log "phase 2: the sink comes up on 127.0.0.1:$SINK"
"$BIN/sink" -listen "127.0.0.1:$SINK" -stats 127.0.0.1:0 -duration 1h >"$WORK/sink.out" 2>"$WORK/sink.log" &
SINK_PID=$!
PIDS+=("$SINK_PID")
wait_listen "$SINK" "$SINK_PID" sink
for _ in $(seq 100); do [[ -s $WORK/sink.out ]] && break; sleep 0.1; done
STATS=$(head -1 "$WORK/sink.out" | sed -E 's/.*"stats":"([^"]+)".*/\1/')
sink_spans() { curl -fsS "http://$STATS/stats" | sed -E 's/.*"spans":([0-9]+).*/\1/'; }
t0=$(date +%s%N)
disk_emptied() { (($(disk_used_kib) < used_full / 10)); }
ready() { [[ $(readyz_code) == 200 ]]; }
if until_true 300 "the disk to empty" disk_emptied; then e=0; else e=1; fi
t1=$(date +%s%N)
check "disk emptied" "$e" "$(disk_used_kib) KiB used (was $used_full) after $(((t1 - t0) / 1000000)) ms"
if until_true 60 "/readyz 200" ready; then e=0; else e=1; fi
t2=$(date +%s%N)
check "/readyz ready again" "$e" "HTTP $(readyz_code) after $(((t2 - t0) / 1000000)) ms, no restart"

# --- 3. new data is accepted -------------------------------------------------
log "phase 3: ${AFTER}s of load with the upstream up"
"$BIN/loadgen" -endpoint "127.0.0.1:$GRPC" -duration "${AFTER}s" -rate "$RATE" -workers "$WORKERS" >"$WORK/loadgen-after.json" 2>"$WORK/loadgen-after.log" ||
	die "loadgen failed: $(cat "$WORK/loadgen-after.log")"
LG2=$(cat "$WORK/loadgen-after.json")
ok2=$(field spans_ok "$LG2") ref2=$(field requests_refused "$LG2") err2=$(field errors "$LG2")
check "new data accepted" "$((ok2 > 0 && err2 == 0 ? 0 : 1))" "$ok2 spans acknowledged, $ref2 requests refused, $err2 errors"
healthy=$(metric 'otlpgw_queue_journal_healthy{')
check "journal healthy" "$([[ $healthy == 1 ]] && echo 0 || echo 1)" "queue_journal_healthy $healthy"

# --- 4. books ----------------------------------------------------------------
kill -TERM "$GW_PID"
wait "$GW_PID" || check "clean stop" 1 "otlpgw exited with $?"
acked=$((ok1 + ok2 + probe_acked))
delivered=$(sink_spans)
lost=$((acked > delivered ? acked - delivered : 0))
check "books" "$((lost == 0 ? 0 : 1))" "acknowledged $acked, delivered $delivered, lost $lost"
lines=$(grep -c 'cannot write the journal' "$WORK/otlpgw.log" || true)
healed=$(grep -c 'the journal is writable again' "$WORK/otlpgw.log" || true)
log "  info    log lines: $lines 'cannot write the journal', $healed 'writable again' (for $ref1 refused requests)"
printf 'diskfull: size=%s fill_s=%s acknowledged=%d delivered=%d lost=%d refused_requests=%d refused_without_retry_info=%d disk_used_full_kib=%d empty_ms=%d ready_ms=%d log_failure_lines=%d result=%s\n' \
	"$SIZE" "$FILL" "$acked" "$delivered" "$lost" "$ref1" "$noretry1" "$used_full" "$(((t1 - t0) / 1000000))" "$(((t2 - t0) / 1000000))" "$lines" \
	"$([[ $FAILED == 0 ]] && echo ok || echo FAILED)"
exit "$FAILED"
