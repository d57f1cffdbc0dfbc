#!/usr/bin/env bash
# A throwaway Redis 7 server on a free loopback port, for tests.
#
#   scripts/redis.sh start [DIR]   start it; prints export lines on stdout
#   scripts/redis.sh stop [DIR]    stop it (SHUTDOWN NOSAVE, then signals)
#
#   eval "$(scripts/redis.sh start)"   # sets UNPAIR_TEST_REDIS and UNPAIR_REDIS_DIR
#
# Installs Debian's redis-server with apt-get when it is missing (as root).
# No persistence: the server keeps everything in memory; DIR holds its pid file
# and log. UNPAIR_REDIS_PERSIST=1 turns on an append-only file in DIR.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"

timeout=${UNPAIR_REDIS_START_TIMEOUT:-20}

ping_ok() { # ping_ok PORT
	[[ $(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null) == PONG ]]
}

start() {
	ensure_redis
	local dir t0
	t0=$(now_ms)
	if [[ -n ${1:-${UNPAIR_REDIS_DIR:-}} ]]; then
		dir=${1:-$UNPAIR_REDIS_DIR}
		mkdir -p "$dir"
	else
		dir=$(mktemp -d "${TMPDIR:-/tmp}/unpair-redis.XXXXXX")
	fi
	dir=$(cd "$dir" && pwd)
	if pid_alive "$(cat "$dir/redis.pid" 2>/dev/null || true)" redis-server; then
		die "a redis-server already runs from $dir (pid $(cat "$dir/redis.pid"))"
	fi
	local port persist=(--save "" --appendonly no)
	port=$(cat "$dir/port" 2>/dev/null || free_port)
	echo "$port" >"$dir/port"
	[[ ${UNPAIR_REDIS_PERSIST:-0} == 1 ]] && persist=(--save "" --appendonly yes --appendfsync everysec)
	redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" \
		--daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" \
		"${persist[@]}" --maxmemory 1gb --maxmemory-policy noeviction ||
		die "redis-server would not start on 127.0.0.1:$port: $(tail -n1 "$dir/redis.log" 2>/dev/null)"
	local end=$(($(now_ms) + timeout * 1000))
	until ping_ok "$port"; do
		if (($(now_ms) > end)); then
			die "redis-server on 127.0.0.1:$port not answering PING after ${timeout}s: $(tail -n1 "$dir/redis.log" 2>/dev/null)"
		fi
		sleep 0.05
	done
	say "Redis $(redis_version) ready on 127.0.0.1:$port in $(($(now_ms) - t0)) ms ($dir)"
	printf 'export UNPAIR_REDIS_DIR=%q\n' "$dir"
	printf 'export UNPAIR_TEST_REDIS=%q\n' "127.0.0.1:$port"
	printf 'export UNPAIR_REDIS_VERSION=%q\n' "$(redis_version)"
}

stop() {
	local dir=${1:-${UNPAIR_REDIS_DIR:-}} pid port
	[[ -n $dir ]] || die "no state dir: pass DIR or set UNPAIR_REDIS_DIR"
	pid=$(cat "$dir/redis.pid" 2>/dev/null || true)
	if ! pid_alive "$pid" redis-server; then
		say "no redis-server runs from $dir"
		return 0
	fi
	port=$(cat "$dir/port")
	redis-cli -h 127.0.0.1 -p "$port" shutdown nosave >/dev/null 2>&1 || true
	stop_pid "$pid" redis-server 10 || die "cannot stop redis-server pid $pid"
	rm -f "$dir/redis.pid"
	say "Redis on 127.0.0.1:$port stopped"
}

case "${1:-}" in
start) start "${2:-}" ;;
stop) stop "${2:-}" ;;
*) die "usage: redis.sh start [DIR]|stop [DIR]" ;;
esac
