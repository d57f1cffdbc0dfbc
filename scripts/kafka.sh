#!/usr/bin/env bash
# Single-node KRaft Apache Kafka broker for tests, assembled from Maven Central.
#
#   scripts/kafka.sh fetch          resolve the broker's jars into the cache
#   scripts/kafka.sh start [DIR]    start a broker; prints export lines on stdout
#   scripts/kafka.sh stop [DIR]     stop it (SIGTERM, then SIGKILL after a deadline)
#   scripts/kafka.sh status [DIR]   exit 0 when it runs and accepts connections
#
# DIR (or UNPAIR_KAFKA_DIR) is the broker's state dir: server.properties, data,
# server.log, kafka.pid and a ctl script. `start` without a DIR makes a new temp
# dir and picks free loopback ports; `start` with an existing DIR reuses its
# configuration, data and ports, so `stop` then `start` restarts the same broker
# (fault tests do this through UNPAIR_TEST_KAFKA_CTL=DIR/ctl).
#
#   eval "$(scripts/kafka.sh start)"   # sets UNPAIR_TEST_KAFKA, UNPAIR_TEST_KAFKA_CTL, UNPAIR_KAFKA_DIR
#
# Environment: UNPAIR_CACHE (default ~/.cache/unpair) holds the jars;
# UNPAIR_MAVEN_REPO overrides Maven's local repository (default ~/.m2/repository);
# UNPAIR_KAFKA_START_TIMEOUT / UNPAIR_KAFKA_STOP_TIMEOUT in seconds (90 / 30);
# UNPAIR_KAFKA_HEAP (default "-Xms512m -Xmx1g").
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"

KAFKA_VERSION=4.4.0
cache=${UNPAIR_CACHE:-$HOME/.cache/unpair}
libs="$cache/kafka-$KAFKA_VERSION/libs"
pom="$here/kafka/pom.xml"
start_timeout=${UNPAIR_KAFKA_START_TIMEOUT:-90}
stop_timeout=${UNPAIR_KAFKA_STOP_TIMEOUT:-30}
heap=${UNPAIR_KAFKA_HEAP:--Xms512m -Xmx1g}

need_java() {
	command -v java >/dev/null 2>&1 || die "java is missing: Kafka $KAFKA_VERSION needs Java 17 or newer (apt-get install openjdk-17-jre-headless)"
	local v
	v=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1)
	[[ -n $v && $v -ge 17 ]] || die "java ${v:-unknown} found: Kafka $KAFKA_VERSION needs Java 17 or newer"
}

# stamp identifies the jar set: a change of the POM refetches.
stamp() {
	sha256sum "$pom" | cut -d' ' -f1
}

fetch() {
	if [[ -f $libs/.complete && $(cat "$libs/.complete") == "$(stamp)" ]]; then
		return 0
	fi
	command -v mvn >/dev/null 2>&1 || die "mvn is missing: Maven is needed once to fetch Kafka's jars into $libs (apt-get install maven)"
	mkdir -p "$(dirname "$libs")"
	# One fetch at a time: parallel test runs share the cache.
	exec 9>"$(dirname "$libs")/.lock"
	flock 9
	if [[ -f $libs/.complete && $(cat "$libs/.complete") == "$(stamp)" ]]; then
		flock -u 9
		exec 9>&-
		return 0
	fi
	local t0 tmp log args=(-q -B -f "$pom" dependency:copy-dependencies -DincludeScope=runtime)
	t0=$(now_ms)
	tmp=$(mktemp -d "$(dirname "$libs")/libs.XXXXXX")
	log=$(mktemp)
	[[ -n ${UNPAIR_MAVEN_REPO:-} ]] && args+=("-Dmaven.repo.local=$UNPAIR_MAVEN_REPO")
	say "fetching Kafka $KAFKA_VERSION jars from Maven Central into $libs"
	if ! mvn "${args[@]}" "-DoutputDirectory=$tmp" >"$log" 2>&1; then
		rm -rf "$tmp"
		die "mvn could not fetch Kafka's jars: $(grep -m1 -E 'ERROR' "$log" || tail -n1 "$log")"
	fi
	rm -f "$log"
	[[ -f $tmp/kafka_2.13-$KAFKA_VERSION.jar ]] || { rm -rf "$tmp"; die "mvn ran but kafka_2.13-$KAFKA_VERSION.jar is not among the fetched jars"; }
	stamp >"$tmp/.complete"
	rm -rf "$libs"
	mv "$tmp" "$libs"
	flock -u 9
	exec 9>&-
	say "fetched $(find "$libs" -name '*.jar' | wc -l) jars in $(($(now_ms) - t0)) ms"
}

state_dir() {
	local d=${1:-${UNPAIR_KAFKA_DIR:-}}
	[[ -n $d ]] || die "no state dir: pass DIR or set UNPAIR_KAFKA_DIR"
	echo "$d"
}

prop() { # prop FILE KEY
	sed -n "s/^$2=//p" "$1" | tail -n1
}

write_config() { # write_config DIR PORT CPORT
	local dir=$1 port=$2 cport=$3
	cat >"$dir/server.properties" <<EOF
# Single-node KRaft broker for tests (written by scripts/kafka.sh).
process.roles=broker,controller
node.id=1
controller.listener.names=CONTROLLER
controller.quorum.bootstrap.servers=127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/data
num.partitions=1
num.network.threads=2
num.io.threads=4
background.threads=4
num.recovery.threads.per.data.dir=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
default.replication.factor=1
min.insync.replicas=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
delete.topic.enable=true
log.cleaner.dedupe.buffer.size=8388608
log.cleaner.threads=1
log.segment.bytes=67108864
log.retention.check.interval.ms=60000
EOF
}

start() {
	need_java
	fetch
	local dir fresh=0
	if [[ -n ${1:-${UNPAIR_KAFKA_DIR:-}} ]]; then
		dir=$(state_dir "${1:-}")
		mkdir -p "$dir"
	else
		dir=$(mktemp -d "${TMPDIR:-/tmp}/unpair-kafka.XXXXXX")
	fi
	dir=$(cd "$dir" && pwd)
	if pid_alive "$(cat "$dir/kafka.pid" 2>/dev/null || true)" kafka.Kafka; then
		die "a broker already runs from $dir (pid $(cat "$dir/kafka.pid"))"
	fi
	local port cport
	if [[ ! -f $dir/server.properties ]]; then
		fresh=1
		port=$(free_port)
		UNPAIR_PORTS_TAKEN="${UNPAIR_PORTS_TAKEN:-} $port"
		cport=$(free_port)
		write_config "$dir" "$port" "$cport"
	fi
	port=$(prop "$dir/server.properties" listeners | sed 's/.*PLAINTEXT:\/\/127.0.0.1:\([0-9]*\),.*/\1/')
	cport=$(prop "$dir/server.properties" controller.quorum.bootstrap.servers | sed 's/.*://')
	for p in "$port" "$cport"; do
		port_accepts "$p" && die "port $p (from $dir/server.properties) is taken by another process"
	done

	local cp="$libs/*" jvm
	# shellcheck disable=SC2206
	jvm=($heap -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError
		-Djava.awt.headless=true "-Dkafka.logs.dir=$dir"
		"-Dlog4j2.configurationFile=$here/kafka/log4j2.properties")
	if [[ ! -f $dir/data/meta.properties ]]; then
		local id out
		# A cluster id is 16 random bytes in unpadded URL-safe base64, as
		# StorageTool random-uuid prints it (never starting with '-'); making it
		# here saves one JVM start.
		id=-
		while [[ $id == -* ]]; do
			id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
		done
		if ! out=$(java -cp "$cp" "${jvm[@]}" kafka.tools.StorageTool format -t "$id" -c "$dir/server.properties" --standalone 2>&1); then
			die "cannot format Kafka storage in $dir/data: $(echo "$out" | grep -v '^\s*$' | tail -n1)"
		fi
	fi

	cat >"$dir/ctl" <<EOF
#!/usr/bin/env bash
# Stops or starts the test broker of $dir (UNPAIR_TEST_KAFKA_CTL).
UNPAIR_CACHE=$(printf '%q' "$cache") exec "$here/kafka.sh" "\${1:?usage: ctl stop|start|status}" "$dir"
EOF
	chmod +x "$dir/ctl"

	local t0 log=$dir/server.log from
	t0=$(now_ms)
	from=$(($(wc -c <"$log" 2>/dev/null || echo 0) + 1))
	setsid java -cp "$cp" "${jvm[@]}" kafka.Kafka "$dir/server.properties" \
		</dev/null >>"$dir/stdout.log" 2>&1 &
	local pid=$!
	echo "$pid" >"$dir/kafka.pid"
	local end=$((t0 + start_timeout * 1000))
	until tail -c +"$from" "$log" 2>/dev/null | grep -q "Kafka Server started" && port_accepts "$port"; do
		if ! pid_alive "$pid"; then
			local cause
			cause=$( { tail -c +"$from" "$log" 2>/dev/null; tail -n 50 "$dir/stdout.log"; } | grep -m1 -E 'ERROR|Exception|Error:' || true)
			die "Kafka broker exited during start-up: ${cause:-see $dir/server.log}"
		fi
		if (($(now_ms) > end)); then
			stop_pid "$pid" kafka.Kafka 5 || true
			die "Kafka broker not ready after ${start_timeout}s (see $log)"
		fi
		sleep 0.1
	done
	local version
	version=$(tail -c +"$from" "$log" | sed -n 's/.*Kafka version: \([^ ]*\).*/\1/p' | head -n1)
	say "Kafka ${version:-$KAFKA_VERSION} ready on 127.0.0.1:$port in $(($(now_ms) - t0)) ms ($([[ $fresh == 1 ]] && echo new || echo restarted) state dir $dir)"
	printf 'export UNPAIR_KAFKA_DIR=%q\n' "$dir"
	printf 'export UNPAIR_TEST_KAFKA=%q\n' "127.0.0.1:$port"
	printf 'export UNPAIR_TEST_KAFKA_CTL=%q\n' "$dir/ctl"
	printf 'export UNPAIR_KAFKA_VERSION=%q\n' "${version:-$KAFKA_VERSION}"
}

stop() {
	local dir pid
	dir=$(state_dir "${1:-}")
	pid=$(cat "$dir/kafka.pid" 2>/dev/null || true)
	if ! pid_alive "$pid" kafka.Kafka; then
		say "no broker runs from $dir"
		return 0
	fi
	local t0
	t0=$(now_ms)
	stop_pid "$pid" kafka.Kafka "$stop_timeout" || die "cannot stop Kafka broker pid $pid"
	rm -f "$dir/kafka.pid"
	say "Kafka broker of $dir stopped in $(($(now_ms) - t0)) ms"
}

status() {
	local dir pid port
	dir=$(state_dir "${1:-}")
	pid=$(cat "$dir/kafka.pid" 2>/dev/null || true)
	pid_alive "$pid" kafka.Kafka || die "no broker runs from $dir"
	port=$(prop "$dir/server.properties" listeners | sed 's/.*PLAINTEXT:\/\/127.0.0.1:\([0-9]*\),.*/\1/')
	port_accepts "$port" || die "broker pid $pid runs but 127.0.0.1:$port does not accept connections"
	echo "running pid $pid on 127.0.0.1:$port ($dir)"
}

case "${1:-}" in
fetch) need_java; fetch ;;
start) start "${2:-}" ;;
stop) stop "${2:-}" ;;
status) status "${2:-}" ;;
*) die "usage: kafka.sh fetch|start [DIR]|stop [DIR]|status [DIR]" ;;
esac
