#!/usr/bin/env bash
# Validates the deployment files offline: docker-compose.yml, deploy/k8s,
# deploy/prometheus and deploy/grafana. Exits non-zero on any invalid file.
#
#   scripts/validate-deploy.sh               # validate this repository
#   scripts/validate-deploy.sh DIR           # validate a copy (DIR has docker-compose.yml and deploy/)
#   scripts/validate-deploy.sh --self-test   # also prove that each check fails on a broken copy
#
# Checks, each with a real validator, none needing the network:
#   1. docker-compose.yml: `docker compose config -q` when the compose plugin
#      is installed, else the Compose Specification's own loader and schema
#      (github.com/compose-spec/compose-go, the code docker compose runs).
#   2. deploy/k8s/*.yaml: kubeconform -strict against the JSON schemas
#      committed in deploy/k8s/schemas (Kubernetes 1.37 and KEDA ScaledObject;
#      see the README there for where they come from).
#   3. deploy/prometheus: promtool check config (which checks alerts.yml too)
#      and promtool test rules on deploy/prometheus/alerts_test.yml.
#   4. deploy/grafana: every JSON and YAML file parses; `go test ./deploy`
#      then checks the files against the shared contracts (metric names,
#      topics, environment variables, probes, replica ceiling).
#
# The validators are Go programs pinned below. They are built once with
# `go install` (the Go module proxy is needed the first time only) into
# $UNPAIR_TOOLS (default .cache/tools, ignored by git), then run with no
# network: inside a fresh network namespace when `unshare -rn` works here.
# UNPAIR_VALIDATE_PROMTOOL=0 skips check 3 (promtool is a large build: some
# minutes the first time on two cores).
set -euo pipefail

KUBECONFORM=github.com/yannh/kubeconform/cmd/kubeconform@v0.7.0
COMPOSE_SPEC=github.com/compose-spec/compose-go/v2/cmd@v2.16.2
PROMTOOL=github.com/prometheus/prometheus/cmd/promtool@v0.316.0

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
say() { echo "validate-deploy: $*" >&2; }
die() {
	say "$*"
	exit 1
}

tools=${UNPAIR_TOOLS:-$root/.cache/tools}

# tool NAME PKG@VERSION [BUILD FLAGS]: prints the path of the built
# validator, building it the first time. The version is part of the
# directory, so bumping a pin rebuilds.
tool() {
	local name=$1 pkg=$2 dir
	shift 2
	dir=$tools/$(echo "${pkg#*@}" | tr -c 'A-Za-z0-9.\n' _)-$name
	if [[ ! -x $dir/$name ]]; then
		say "building $pkg (once; later runs reuse $dir)"
		mkdir -p "$dir"
		# Outside the module, so go.mod is never touched.
		(cd "$dir" && GOFLAGS= GOBIN=$dir go install "$@" "$pkg") >&2 || die "cannot build $pkg: is the Go module proxy reachable?"
		local built
		built=$(basename "${pkg%@*}")
		[[ $built == "$name" ]] || mv "$dir/$built" "$dir/$name"
	fi
	echo "$dir/$name"
}

# offline CMD...: runs CMD without network when this kernel lets us make a
# network namespace, so a validator cannot quietly fetch a schema.
if unshare -rn true 2>/dev/null; then
	offline() { unshare -rn "$@"; }
else
	offline() { "$@"; }
fi

# validate DIR: runs every check on DIR; prints one line per check and
# returns non-zero if any failed.
validate() {
	local dir=$1 failed=0
	local kubeconform compose_spec= promtool=
	kubeconform=$(tool kubeconform "$KUBECONFORM")
	command -v docker >/dev/null && docker compose version >/dev/null 2>&1 || compose_spec=$(tool compose-spec "$COMPOSE_SPEC")
	# remove_all_sd leaves out the cloud service-discovery plugins (and their
	# SDKs); the compose config uses static targets only.
	[[ ${UNPAIR_VALIDATE_PROMTOOL:-1} == 0 ]] || promtool=$(tool promtool "$PROMTOOL" -tags remove_all_sd)

	check() {
		local what=$1
		shift
		local out
		if out=$("$@" 2>&1); then
			say "ok    $what"
		else
			say "FAIL  $what"
			echo "$out" | sed 's/^/    /' >&2
			failed=1
		fi
	}

	# 1. Compose. Interpolation uses the defaults in the file, not this shell.
	compose() {
		cd "$dir"
		unset UNPAIR_LEARNER_SECRET GRAFANA_ADMIN_PASSWORD COMPOSE_FILE COMPOSE_PROFILES
		if [[ -z ${compose_spec:-} ]]; then
			docker compose -f docker-compose.yml config -q
		else
			offline "$compose_spec" -format json docker-compose.yml >/dev/null
		fi
	}
	local how="docker compose config"
	[[ -z $compose_spec ]] || how="compose-spec loader and schema"
	check "docker-compose.yml ($how)" compose

	# 2. Kubernetes manifests and the KEDA ScaledObject.
	local manifests=("$dir"/deploy/k8s/*.yaml)
	check "deploy/k8s (kubeconform -strict, ${#manifests[@]} files)" \
		offline "$kubeconform" -strict -summary -output text \
		-schema-location "$dir/deploy/k8s/schemas/{{.ResourceKind}}{{.KindSuffix}}.json" \
		-skip Kustomization "${manifests[@]}"
	# kubeconform skips files with no resource in them; an empty manifest is a mistake.
	check "deploy/k8s: every file holds a resource" bash -c '
		for f in "$@"; do grep -Eq "^kind: [A-Za-z]+" "$f" || { echo "$f: no kind"; exit 1; }; done' _ "${manifests[@]}"

	# 3. Prometheus.
	if [[ -n $promtool ]]; then
		check "deploy/prometheus/prometheus.yml + alerts.yml (promtool check config)" \
			offline "$promtool" check config "$dir/deploy/prometheus/prometheus.yml"
		rule_tests() { cd "$dir/deploy/prometheus" && offline "$promtool" test rules alerts_test.yml; }
		check "deploy/prometheus/alerts_test.yml (promtool test rules)" rule_tests
	else
		say "skip  promtool checks (UNPAIR_VALIDATE_PROMTOOL=0)"
	fi

	# 4. Grafana files parse, and the contract checks in Go.
	check "deploy/grafana (JSON and YAML parse)" \
		python3 -c '
import json, sys, yaml
for f in sys.argv[1:]:
    with open(f) as fh:
        (json.load if f.endswith(".json") else yaml.safe_load)(fh)
' $(find "$dir/deploy/grafana" -type f \( -name '*.json' -o -name '*.yml' -o -name '*.yaml' \))
	if [[ ! -x $tmp_dir/deploy.test ]]; then
		go -C "$root" test -c -o "$tmp_dir/deploy.test" ./deploy >&2 || die "cannot build the tests of ./deploy"
	fi
	contracts() { cd "$root/deploy" && UNPAIR_DEPLOY_DIR="$dir" "$tmp_dir/deploy.test" -test.count=1; }
	check "deploy contracts (the tests of ./deploy)" contracts

	return "$failed"
}

# self_test: each broken copy must fail, the untouched copy must pass.
self_test() {
	local tmp=$tmp_dir/self-test
	mkdir -p "$tmp"
	copy() {
		rm -rf "$tmp/c"
		mkdir -p "$tmp/c"
		cp -r "$root/deploy" "$root/docker-compose.yml" "$tmp/c/"
	}
	local cases=(
		"compose: unknown depends_on condition|docker-compose.yml|s/condition: service_healthy/condition: when_ready/"
		"compose: misspelled service key|docker-compose.yml|s/^    hostname: kafka$/    hostnam: kafka/"
		"k8s: misspelled container field|deploy/k8s/deployment.yaml|s/readOnlyRootFilesystem: true/readOnlyRootFS: true/"
		"k8s: port as a string|deploy/k8s/service.yaml|s/port: 8080/port: \"8080\"/"
		"keda: lag threshold not a string|deploy/k8s/scaledobject.yaml|s/lagThreshold: \"5000\"/lagThreshold: 5000/"
		"keda: unknown spec field|deploy/k8s/scaledobject.yaml|s/^  pollingInterval: 30/  pollingIntervalSeconds: 30/"
		"prometheus: bad PromQL in an alert|deploy/prometheus/alerts.yml|s/> 0.05/> > 0.05/"
		"prometheus: unknown config key|deploy/prometheus/prometheus.yml|s/scrape_interval: 15s/scrape_intervall: 15s/"
		"prometheus: alert that no longer fires on its test case|deploy/prometheus/alerts.yml|s/> 0.05/> 0.06/"
		"grafana: dashboard JSON broken|deploy/grafana/dashboards/unpair.json|1s/^{/{,/"
		"contract: replica ceiling not the partition count|deploy/k8s/scaledobject.yaml|s/maxReplicaCount: 12/maxReplicaCount: 20/"
		"contract: unknown metric in the dashboard|deploy/grafana/dashboards/unpair.json|s/unpair_consumer_lag/unpair_consumer_lags/g"
	)
	copy
	say "self-test: the untouched copy must pass"
	validate "$tmp/c" || die "self-test: the untouched copy fails"
	local c name file expr bad=0
	for c in "${cases[@]}"; do
		IFS='|' read -r name file expr <<<"$c"
		if [[ $name == prometheus:* && ${UNPAIR_VALIDATE_PROMTOOL:-1} == 0 ]]; then
			continue
		fi
		copy
		sed -i "$expr" "$tmp/c/$file"
		if cmp -s "$root/$file" "$tmp/c/$file"; then
			say "self-test: the edit for '$name' changed nothing in $file"
			bad=1
			continue
		fi
		if validate "$tmp/c" 2>"$tmp/log"; then
			say "self-test: NOT DETECTED: $name"
			bad=1
		else
			say "self-test: detected: $name ($(grep -m1 FAIL "$tmp/log" | sed 's/.*FAIL  //'))"
		fi
	done
	return "$bad"
}

tmp_dir=$(mktemp -d "${TMPDIR:-/tmp}/validate-deploy.XXXXXX")
trap 'rm -rf "$tmp_dir"' EXIT

command -v go >/dev/null || die "go is not on PATH"
command -v python3 >/dev/null || die "python3 is not on PATH"
python3 -c 'import yaml' 2>/dev/null || die "python3 lacks PyYAML (pip install pyyaml)"

case ${1:-} in
--self-test)
	validate "$root" || die "invalid deployment files (see FAIL above)"
	self_test || die "self-test failed"
	say "self-test passed: every broken copy was rejected"
	;;
"")
	validate "$root" || die "invalid deployment files (see FAIL above)"
	say "all deployment files are valid"
	;;
*)
	[[ -f $1/docker-compose.yml && -d $1/deploy ]] || die "$1: needs docker-compose.yml and deploy/"
	validate "$(cd "$1" && pwd)" || die "invalid deployment files (see FAIL above)"
	;;
esac
