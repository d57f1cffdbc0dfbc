#!/usr/bin/env bash
# THE test command: starts the real servers, checks formatting and vet, runs
# every Go test with the race detector, and stops the servers on any exit.
#
#   scripts/test.sh                            # everything
#   scripts/test.sh -run X ./schema/           # extra args go to `go test`
#   scripts/test.sh ./processor/integration/   # only these packages
#
# It starts a single-node Kafka 4.4.0 broker (scripts/kafka.sh), a Redis 7
# server (scripts/redis.sh) and a three-master Redis Cluster
# (scripts/redis-cluster.sh), exports UNPAIR_TEST_KAFKA, UNPAIR_TEST_REDIS,
# UNPAIR_TEST_REDIS_CLUSTER, UNPAIR_TEST_KAFKA_CTL, UNPAIR_TEST_KAFKA_LOCK
# (see processor/testenv) and UNPAIR_TEST_REQUIRE=1,
# then runs `gofmt -l`, `go vet` and `go test -race -timeout 25m`. Without
# package arguments it covers ./...; with them, gofmt, vet and test cover
# those packages. A server that cannot start fails the run.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=lib.sh
source scripts/lib.sh

t_start=$(now_ms)
run_dir=$(mktemp -d "${TMPDIR:-/tmp}/unpair-test.XXXXXX")
kafka_dir=$run_dir/kafka
redis_dir=$run_dir/redis
cluster_dir=$run_dir/redis-cluster
kafka_pid=

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	# A Kafka start still in flight is waited for, so that its broker is
	# stopped below rather than left behind.
	[[ -n $kafka_pid ]] && wait "$kafka_pid" 2>/dev/null || true
	[[ -d $kafka_dir ]] && scripts/kafka.sh stop "$kafka_dir" 2>&1 | sed 's/^/  /' >&2 || true
	[[ -d $redis_dir ]] && scripts/redis.sh stop "$redis_dir" 2>&1 | sed 's/^/  /' >&2 || true
	[[ -d $cluster_dir ]] && scripts/redis-cluster.sh stop "$cluster_dir" 2>&1 | sed 's/^/  /' >&2 || true
	if ((rc == 0)) || [[ ${UNPAIR_KEEP_LOGS:-0} != 1 ]]; then
		rm -rf "$run_dir"
	else
		say "server logs kept in $run_dir"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Package arguments select what gofmt, vet and test cover.
pkgs=()
for a in "$@"; do
	case $a in ./* | ../* | all | *...) pkgs+=("$a") ;; esac
done
go_args=("$@")
if ((${#pkgs[@]} == 0)); then
	pkgs=(./...)
	go_args+=(./...)
fi

# Kafka starts in the background (it is the slowest) while Redis starts.
mkdir -p "$kafka_dir"
scripts/kafka.sh start "$kafka_dir" >"$run_dir/kafka.env" 2>"$run_dir/kafka.err" &
kafka_pid=$!

ensure_chromium
scripts/redis.sh start "$redis_dir" >"$run_dir/redis.env"
scripts/redis-cluster.sh start "$cluster_dir" >"$run_dir/cluster.env"

if ! wait "$kafka_pid"; then
	kafka_pid=
	cat "$run_dir/kafka.err" >&2
	die "the Kafka broker did not start; no test ran"
fi
kafka_pid=
cat "$run_dir/kafka.err" >&2

# shellcheck disable=SC1091
source "$run_dir/kafka.env"
# shellcheck disable=SC1091
source "$run_dir/redis.env"
# shellcheck disable=SC1091
source "$run_dir/cluster.env"
export UNPAIR_TEST_REQUIRE=1
# Fault tests restart the shared broker; processor/testenv serialises that
# against other packages' Kafka tests with an flock on this file.
export UNPAIR_TEST_KAFKA_LOCK=$run_dir/kafka-restart.lock
say "servers ready in $(($(now_ms) - t_start)) ms: Kafka $UNPAIR_KAFKA_VERSION at $UNPAIR_TEST_KAFKA, Redis $UNPAIR_REDIS_VERSION at $UNPAIR_TEST_REDIS, Redis Cluster at $UNPAIR_TEST_REDIS_CLUSTER"
say "$(go version), $(java -version 2>&1 | head -n1)"

# gofmt takes directories: ./x/... becomes ./x.
fmt_dirs=()
for p in "${pkgs[@]}"; do
	case $p in
	all) fmt_dirs+=(.) ;;
	*...) fmt_dirs+=("${p%...}") ;;
	*) fmt_dirs+=("$p") ;;
	esac
done
fmt_dirs=("${fmt_dirs[@]%/}")
for i in "${!fmt_dirs[@]}"; do
	if [[ -z ${fmt_dirs[$i]} ]]; then fmt_dirs[i]=.; fi
done
unformatted=$(gofmt -l "${fmt_dirs[@]}")
if [[ -n $unformatted ]]; then
	echo "$unformatted" >&2
	die "gofmt -l lists the files above; run gofmt -w on them"
fi

say "go vet ${pkgs[*]}"
go vet "${pkgs[@]}"

say "go test -race -timeout 25m ${go_args[*]}"
go test -race -timeout 25m "${go_args[@]}"

# The whole-repository run also checks what lives outside Go tests.
if [[ ${pkgs[*]} == ./... ]]; then
	say "pyBKT cross-check (scripts/pybkt_check.sh)"
	scripts/pybkt_check.sh
	say "deploy files, offline (scripts/validate-deploy.sh --self-test)"
	scripts/validate-deploy.sh --self-test
fi
say "done in $(($(now_ms) - t_start)) ms"
