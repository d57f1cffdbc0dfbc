#!/usr/bin/env bash
# A throwaway three-master Redis Cluster on free loopback ports, for tests.
#
#   scripts/redis-cluster.sh start [DIR]   start it; prints export lines on stdout
#   scripts/redis-cluster.sh stop [DIR]    stop every node
#
#   eval "$(scripts/redis-cluster.sh start)"   # sets UNPAIR_TEST_REDIS_CLUSTER (comma-separated) and UNPAIR_REDIS_CLUSTER_DIR
#
# Each node runs with cluster-enabled yes and no persistence; the slots are
# split by `redis-cli --cluster create ... --cluster-replicas 0`, and start
# returns once every node reports cluster_state:ok. A node's cluster bus listens
# on its port + 10000, so both must be free.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"

timeout=${UNPAIR_REDIS_START_TIMEOUT:-30}
nodes=3

cluster_ok() { # cluster_ok PORT...
	local p
	for p in "$@"; do
		redis-cli -h 127.0.0.1 -p "$p" cluster info 2>/dev/null | grep -q '^cluster_state:ok' || return 1
	done
}

ping_ok() {
	[[ $(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null) == PONG ]]
}

start() {
	ensure_redis
	local dir t0 ports=() p i
	t0=$(now_ms)
	if [[ -n ${1:-${UNPAIR_REDIS_CLUSTER_DIR:-}} ]]; then
		dir=${1:-$UNPAIR_REDIS_CLUSTER_DIR}
		mkdir -p "$dir"
		[[ -f $dir/ports ]] && die "$dir already holds a cluster; stop it and use a new dir"
	else
		dir=$(mktemp -d "${TMPDIR:-/tmp}/unpair-redis-cluster.XXXXXX")
	fi
	dir=$(cd "$dir" && pwd)
	for ((i = 0; i < nodes; i++)); do
		# Ports in 20000-22767 keep the bus ports (+10000) below the
		# ephemeral range.
		p=$(free_port 20000 22767 10000)
		UNPAIR_PORTS_TAKEN="${UNPAIR_PORTS_TAKEN:-} $p"
		ports+=("$p")
	done
	echo "${ports[*]}" >"$dir/ports"
	for p in "${ports[@]}"; do
		mkdir -p "$dir/$p"
		redis-server --bind 127.0.0.1 --port "$p" --dir "$dir/$p" \
			--cluster-enabled yes --cluster-config-file "$dir/$p/nodes.conf" \
			--cluster-node-timeout 5000 --save "" --appendonly no \
			--daemonize yes --pidfile "$dir/$p/redis.pid" --logfile "$dir/$p/redis.log" ||
			die "redis-server would not start on 127.0.0.1:$p: $(tail -n1 "$dir/$p/redis.log" 2>/dev/null)"
	done
	for p in "${ports[@]}"; do
		wait_until "$timeout" "cluster node 127.0.0.1:$p" ping_ok "$p"
	done
	local addrs=() out
	for p in "${ports[@]}"; do addrs+=("127.0.0.1:$p"); done
	if ! out=$(redis-cli --cluster create "${addrs[@]}" --cluster-replicas 0 --cluster-yes 2>&1); then
		die "redis-cli --cluster create failed: $(echo "$out" | grep -m1 -E 'ERR|\[ERR\]' || echo "$out" | tail -n1)"
	fi
	wait_until "$timeout" "Redis Cluster (cluster_state:ok on ${addrs[*]})" cluster_ok "${ports[@]}"
	local joined
	joined=$(
		IFS=,
		echo "${addrs[*]}"
	)
	say "Redis Cluster $(redis_version) ready on $joined in $(($(now_ms) - t0)) ms ($dir)"
	printf 'export UNPAIR_REDIS_CLUSTER_DIR=%q\n' "$dir"
	printf 'export UNPAIR_TEST_REDIS_CLUSTER=%q\n' "$joined"
}

stop() {
	local dir=${1:-${UNPAIR_REDIS_CLUSTER_DIR:-}} p pid failed=0
	[[ -n $dir ]] || die "no state dir: pass DIR or set UNPAIR_REDIS_CLUSTER_DIR"
	[[ -f $dir/ports ]] || { say "no cluster in $dir"; return 0; }
	for p in $(cat "$dir/ports"); do
		pid=$(cat "$dir/$p/redis.pid" 2>/dev/null || true)
		pid_alive "$pid" redis-server || continue
		redis-cli -h 127.0.0.1 -p "$p" shutdown nosave >/dev/null 2>&1 || true
		stop_pid "$pid" redis-server 10 || failed=1
	done
	((failed)) && die "cannot stop every node of the cluster in $dir"
	rm -f "$dir/ports"
	say "Redis Cluster of $dir stopped"
}

case "${1:-}" in
start) start "${2:-}" ;;
stop) stop "${2:-}" ;;
*) die "usage: redis-cluster.sh start [DIR]|stop [DIR]" ;;
esac
