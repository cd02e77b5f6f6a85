# Shell helpers the bench/ scripts share; sourced, never run. A script
# sets WORK (where each process's NAME.log goes) before it starts anything.

log() { printf '%s\n' "$*" >&2; }
die() { log "${0##*/}: $*"; exit 1; }

# free_port prints a loopback TCP port nobody listens on, below the
# ephemeral range so outgoing connections do not take it meanwhile, and
# never the same one twice per script.
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
	die "$name did not listen on 127.0.0.1:$port within 60 s"
}

# field NAME JSON: the value of a top-level scalar field of a one-line JSON object.
field() { sed -E "s/.*\"$1\":\"?([^,}\"]*).*/\1/" <<<"$2"; }
