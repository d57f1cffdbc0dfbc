# shellcheck shell=bash
# Helpers shared by scripts/kafka.sh, scripts/redis.sh, scripts/redis-cluster.sh
# and scripts/test.sh. Source it; it defines functions only.

# die prints one line of cause, prefixed with the script's name, and exits 1.
die() {
	echo "$(basename "$0"): $*" >&2
	exit 1
}

# say prints a progress line on stderr (stdout is kept for export lines).
say() {
	echo "$(basename "$0"): $*" >&2
}

# now_ms prints the wall clock in milliseconds.
now_ms() {
	date +%s%3N
}

# port_in_use PORT succeeds when PORT appears as a local port of any TCP
# socket (listening, connected or in TIME_WAIT), IPv4 or IPv6. It reads
# /proc so that it needs neither ss nor netstat.
port_in_use() {
	local hex
	hex=$(printf '%04X' "$1")
	awk -v p=":$hex" 'FNR > 1 && substr($2, length($2) - 4) == p { found = 1 } END { exit !found }' \
		/proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# free_port [LOW HIGH [OFFSET]] prints a random loopback TCP port in
# [LOW, HIGH] (default 20000-32000, below Linux's ephemeral range) that no
# socket uses; with OFFSET, PORT+OFFSET must be free too (Redis Cluster bus).
# Ports already handed out by this shell are avoided through UNPAIR_PORTS_TAKEN.
free_port() {
	local low=${1:-20000} high=${2:-32000} offset=${3:-0} p i
	for ((i = 0; i < 200; i++)); do
		p=$((low + (RANDOM * 32768 + RANDOM) % (high - low + 1)))
		case " ${UNPAIR_PORTS_TAKEN:-} " in *" $p "*) continue ;; esac
		port_in_use "$p" && continue
		if ((offset > 0)) && port_in_use $((p + offset)); then
			continue
		fi
		UNPAIR_PORTS_TAKEN="${UNPAIR_PORTS_TAKEN:-} $p"
		echo "$p"
		return 0
	done
	die "no free loopback port in $low-$high after 200 tries"
}

# port_accepts PORT succeeds when 127.0.0.1:PORT accepts a TCP connection.
port_accepts() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# pid_alive PID [PATTERN] succeeds when PID runs and, with PATTERN, its command
# line contains PATTERN (guards against a recycled pid).
pid_alive() {
	local pid=$1 pattern=${2:-}
	[[ -n $pid ]] || return 1
	kill -0 "$pid" 2>/dev/null || return 1
	[[ -z $pattern ]] && return 0
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$pattern"
}

# stop_pid PID PATTERN DEADLINE_S sends SIGTERM, waits up to DEADLINE_S
# seconds, then sends SIGKILL. It succeeds when the process is gone.
stop_pid() {
	local pid=$1 pattern=$2 deadline=$3 end
	pid_alive "$pid" "$pattern" || return 0
	kill -TERM "$pid" 2>/dev/null || true
	end=$(($(now_ms) + deadline * 1000))
	while pid_alive "$pid" "$pattern"; do
		if (($(now_ms) > end)); then
			say "pid $pid still running ${deadline}s after SIGTERM; sending SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
			sleep 0.2
			pid_alive "$pid" "$pattern" && return 1
			return 0
		fi
		sleep 0.1
	done
}

# ensure_redis installs Debian's redis-server (7.x) when it is missing.
ensure_redis() {
	if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
		command -v apt-get >/dev/null 2>&1 || die "redis-server is missing and there is no apt-get to install it"
		[[ $(id -u) == 0 ]] || die "redis-server is missing; install it (apt-get install redis-server) or run as root"
		say "installing redis-server with apt-get"
		local log
		log=$(mktemp)
		# policy-rc.d exit 101 keeps the package from starting a system-wide
		# redis on port 6379 while it installs; the file is removed afterwards.
		local policy=/usr/sbin/policy-rc.d made_policy=0
		if [[ ! -e $policy ]]; then
			printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && made_policy=1
		fi
		if ! { DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server; } >"$log" 2>&1; then
			((made_policy)) && rm -f "$policy"
			die "apt-get could not install redis-server: $(grep -E '^(E|W):' "$log" | head -n1)"
		fi
		((made_policy)) && rm -f "$policy"
		rm -f "$log"
	fi
	local v
	v=$(redis_version)
	[[ $v == 7.* ]] || die "redis-server $v found; Redis 7.x is required"
}

# redis_version prints the version of the installed redis-server.
redis_version() {
	redis-server --version | sed -n 's/.*v=\([0-9.]*\).*/\1/p'
}

# wait_until DEADLINE_S WHAT CMD... runs CMD until it succeeds or the deadline
# passes (then dies naming WHAT).
wait_until() {
	local deadline=$1 what=$2 end
	shift 2
	end=$(($(now_ms) + deadline * 1000))
	until "$@"; do
		(($(now_ms) > end)) && die "$what not ready after ${deadline}s"
		sleep 0.1
	done
}

# ensure_chromium installs Debian's chromium for the insight page's browser
# test when no Chromium or Chrome is on PATH.
ensure_chromium() {
	local b
	for b in chromium chromium-browser google-chrome headless-shell; do
		command -v "$b" >/dev/null 2>&1 && return 0
	done
	command -v apt-get >/dev/null 2>&1 || die "chromium is missing and there is no apt-get to install it"
	[[ $(id -u) == 0 ]] || die "chromium is missing; install it (apt-get install chromium) or run as root"
	say "installing chromium with apt-get"
	local log
	log=$(mktemp)
	if ! { DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; } >"$log" 2>&1; then
		die "apt-get could not install chromium: $(grep -E '^(E|W):' "$log" | head -n1)"
	fi
	rm -f "$log"
}
