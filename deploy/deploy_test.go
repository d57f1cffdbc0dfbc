package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// The shared contracts these files must follow.
var (
	contractMetrics = []string{
		"unpair_statements_total", "unpair_consumer_lag", "unpair_shard_queue_depth", "unpair_pairs_in_memory",
		"unpair_flush_duration_seconds", "unpair_flush_learners", "unpair_flush_overruns_total",
		"unpair_redis_errors_total", "unpair_redis_retries_total", "unpair_decisions_total",
		"unpair_rebalances_total", "unpair_rebalance_pause_seconds",
	}
	histograms   = []string{"unpair_flush_duration_seconds", "unpair_flush_learners", "unpair_rebalance_pause_seconds"}
	outcomes     = []string{"processed", "dead_lettered", "duplicate"}
	runEnv       = []string{"UNPAIR_BROKERS", "UNPAIR_REDIS", "UNPAIR_GROUP", "UNPAIR_HTTP_ADDR", "UNPAIR_LEARNER_SECRET", "UNPAIR_LOG_FORMAT"}
	knownEnv     = append([]string{"UNPAIR_INPUT_TOPIC", "UNPAIR_REKEY"}, runEnv...)
	topics       = map[string]int{"xapi.statements": 12, "unpair.by-learner": 12, "unpair.dlq": 0, "unpair.decisions": 0, "unpair.catalog": 0}
	inputTopics  = []string{"xapi.statements", "unpair.by-learner"} // what the consumer group reads
	maxPartition = 12
)

// fromCode returns the names matching re in the repository's Go files under
// rel (not the copy under UNPAIR_DEPLOY_DIR: the code is the reference).
func fromCode(t *testing.T, rel string, re *regexp.Regexp) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join("..", rel, "*.go"))
	var out []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllSubmatch(b, -1) {
			out = append(out, string(m[1]))
		}
	}
	return out
}

// knownSettings are the environment variables unpair run reads: the
// contract's, and any others cmd/unpair declares.
func knownSettings(t *testing.T) []string {
	return append(fromCode(t, "cmd/unpair", regexp.MustCompile(`env:\s*"(UNPAIR_[A-Z_]+)"`)), knownEnv...)
}

// knownMetrics are the contract's metrics and any others processor/pipeline
// registers.
func knownMetrics(t *testing.T) []string {
	return append(fromCode(t, "processor/pipeline", regexp.MustCompile(`Name:\s*"(unpair_[a-z_]+)"`)), contractMetrics...)
}

func dir(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("UNPAIR_DEPLOY_DIR"); d != "" {
		return d
	}
	return ".."
}

func read(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir(t), rel))
	if err != nil {
		t.Fatalf("cannot read %s: %v", rel, err)
	}
	return b
}

// yamlDocs decodes every document of a YAML file into generic maps.
func yamlDocs(t *testing.T, rel string) []map[string]any {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(read(t, rel)))
	var docs []map[string]any
	for {
		var m map[string]any
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("%s: not YAML: %v", rel, err)
		}
		if m != nil {
			docs = append(docs, m)
		}
	}
}

// get walks a path of map keys and list indexes ("spec", "template", 0, ...).
func get(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func str(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case int:
		return strconv.Itoa(x)
	case bool:
		return strconv.FormatBool(x)
	}
	return ""
}

func compose(t *testing.T) map[string]any {
	t.Helper()
	docs := yamlDocs(t, "docker-compose.yml")
	if len(docs) != 1 {
		t.Fatalf("docker-compose.yml: %d documents, want 1", len(docs))
	}
	return docs[0]
}

func unpairServices(t *testing.T, c map[string]any) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	services, _ := c["services"].(map[string]any)
	for name, s := range services {
		svc, _ := s.(map[string]any)
		if cmd, _ := svc["command"].([]any); len(cmd) > 0 && cmd[0] == "run" && strings.HasPrefix(str(svc["image"]), "unpair") {
			out[name] = svc
		}
	}
	return out
}

// TestTheCodeHonoursTheContract: the settings and metrics these files rely
// on are the ones unpair declares.
func TestTheCodeHonoursTheContract(t *testing.T) {
	env := fromCode(t, "cmd/unpair", regexp.MustCompile(`env:\s*"(UNPAIR_[A-Z_]+)"`))
	for _, k := range knownEnv {
		if !slices.Contains(env, k) {
			t.Errorf("cmd/unpair declares no setting %s (found %v)", k, env)
		}
	}
	metrics := fromCode(t, "processor/pipeline", regexp.MustCompile(`Name:\s*"(unpair_[a-z_]+)"`))
	for _, m := range contractMetrics {
		if !slices.Contains(metrics, m) {
			t.Errorf("processor/pipeline registers no metric %s (found %v)", m, metrics)
		}
	}
}

func TestComposeRunsTwoConfiguredReplicas(t *testing.T) {
	c := compose(t)
	reps := unpairServices(t, c)
	if len(reps) != 2 {
		t.Fatalf("compose has %d `unpair run` services, want 2", len(reps))
	}
	for name, svc := range reps {
		env, _ := svc["environment"].(map[string]any)
		for _, k := range runEnv {
			if str(env[k]) == "" {
				t.Errorf("service %s: environment %s is missing or empty", name, k)
			}
		}
		known := knownSettings(t)
		for k := range env {
			if strings.HasPrefix(k, "UNPAIR_") && !slices.Contains(known, k) {
				t.Errorf("service %s: environment %s is not a setting of unpair run (known: %v)", name, k, known)
			}
		}
		if lf := str(env["UNPAIR_LOG_FORMAT"]); lf != "json" && lf != "console" {
			t.Errorf("service %s: UNPAIR_LOG_FORMAT %q, want json or console", name, lf)
		}
		if str(get(svc, "depends_on", "kafka-init", "condition")) != "service_completed_successfully" {
			t.Errorf("service %s must wait for kafka-init to complete (topics exist before consumers start)", name)
		}
	}
	services, _ := c["services"].(map[string]any)
	if img := str(get(services, "kafka", "image")); !strings.HasPrefix(img, "apache/kafka:4.") {
		t.Errorf("kafka image %q, want apache/kafka:4.x", img)
	}
	if str(get(services, "kafka", "environment", "KAFKA_PROCESS_ROLES")) != "broker,controller" {
		t.Error("kafka must run in KRaft combined mode (KAFKA_PROCESS_ROLES broker,controller)")
	}
	if img := str(get(services, "redis", "image")); !strings.HasPrefix(img, "redis:7") {
		t.Errorf("redis image %q, want redis:7", img)
	}
}

func TestComposeCreatesTheTopics(t *testing.T) {
	c := compose(t)
	cmd := get(c, "services", "kafka-init", "command")
	var script strings.Builder
	for _, l := range cmd.([]any) {
		script.WriteString(str(l))
		script.WriteString("\n")
	}
	created := map[string]string{}
	for _, line := range strings.Split(script.String(), "\n") {
		if m := regexp.MustCompile(`create --topic (\S+)(.*)`).FindStringSubmatch(line); m != nil {
			created[m[1]] = m[2]
		}
	}
	for topic, parts := range topics {
		args, ok := created[topic]
		if !ok {
			t.Errorf("kafka-init does not create %s", topic)
			continue
		}
		if parts > 0 && !strings.Contains(args, "--partitions "+strconv.Itoa(parts)) {
			t.Errorf("topic %s: %q, want %d partitions", topic, args, parts)
		}
	}
	if !strings.Contains(created["unpair.catalog"], "cleanup.policy=compact") {
		t.Error("unpair.catalog must be compacted")
	}
}

func TestPrometheusScrapesEveryReplica(t *testing.T) {
	c := compose(t)
	var want []string
	for name, svc := range unpairServices(t, c) {
		addr := str(get(svc, "environment", "UNPAIR_HTTP_ADDR"))
		want = append(want, name+":"+addr[strings.LastIndexByte(addr, ':')+1:])
	}
	prom := yamlDocs(t, "deploy/prometheus/prometheus.yml")[0]
	var got []string
	for _, job := range get(prom, "scrape_configs").([]any) {
		if str(get(job, "job_name")) != "unpair" {
			continue
		}
		for _, sc := range get(job, "static_configs").([]any) {
			for _, tg := range get(sc, "targets").([]any) {
				got = append(got, str(tg))
			}
		}
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("prometheus job unpair scrapes %v, compose runs %v", got, want)
	}
	if files := get(prom, "rule_files"); !slices.Contains(files.([]any), any("alerts.yml")) {
		t.Error("prometheus.yml does not load alerts.yml")
	}
}

var metricRE = regexp.MustCompile(`\bunpair_[a-z_]+\b`)

// metricsIn returns the unpair metric names text uses, histogram series
// folded to their family.
func metricsIn(text string) map[string]bool {
	out := map[string]bool{}
	for _, m := range metricRE.FindAllString(text, -1) {
		for _, h := range histograms {
			for _, suf := range []string{"_bucket", "_sum", "_count"} {
				if m == h+suf {
					m = h
				}
			}
		}
		out[m] = true
	}
	return out
}

func TestMetricNamesFollowTheContract(t *testing.T) {
	dash := string(read(t, "deploy/grafana/dashboards/unpair.json"))
	alerts := string(read(t, "deploy/prometheus/alerts.yml"))
	known := knownMetrics(t)
	for file, text := range map[string]string{"dashboard": dash, "alerts.yml": alerts} {
		for m := range metricsIn(text) {
			if !slices.Contains(known, m) {
				t.Errorf("%s uses %s, which unpair does not export (known: %v)", file, m, known)
			}
		}
		for _, o := range regexp.MustCompile(`outcome=\\?"([a-z_]+)`).FindAllStringSubmatch(text, -1) {
			if !slices.Contains(outcomes, o[1]) {
				t.Errorf("%s uses outcome %q; outcomes are %v", file, o[1], outcomes)
			}
		}
	}
	used := metricsIn(dash + alerts)
	for _, m := range contractMetrics {
		if !used[m] {
			t.Errorf("contract metric %s is on neither the dashboard nor an alert", m)
		}
	}
	for _, name := range []string{"UnpairConsumerLagGrowing", "UnpairDeadLettersHigh", "UnpairFlushOverruns", "UnpairRedisErrors", "UnpairNotReady"} {
		if !strings.Contains(alerts, "alert: "+name+"\n") {
			t.Errorf("alerts.yml lacks %s", name)
		}
	}
}

func TestDashboardIsProvisioned(t *testing.T) {
	var d struct {
		UID    string `json:"uid"`
		Panels []struct {
			ID         int    `json:"id"`
			Type       string `json:"type"`
			Title      string `json:"title"`
			Datasource struct {
				UID string `json:"uid"`
			} `json:"datasource"`
			GridPos struct{ X, W int } `json:"gridPos"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(read(t, "deploy/grafana/dashboards/unpair.json"), &d); err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	ds := yamlDocs(t, "deploy/grafana/provisioning/datasources/prometheus.yml")[0]
	dsUID := str(get(ds, "datasources", 0, "uid"))
	prov := yamlDocs(t, "deploy/grafana/provisioning/dashboards/unpair.yml")[0]
	if p := str(get(prov, "providers", 0, "options", "path")); p != "/var/lib/grafana/dashboards" {
		t.Errorf("dashboard provider reads %q; compose mounts the dashboards at /var/lib/grafana/dashboards", p)
	}
	ids := map[int]bool{}
	var titles []string
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %q is wider than the grid", p.Title)
		}
		if p.Type == "row" {
			continue
		}
		titles = append(titles, strings.ToLower(p.Title))
		if p.Datasource.UID != dsUID {
			t.Errorf("panel %q uses datasource %q; the provisioned one is %q", p.Title, p.Datasource.UID, dsUID)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			if strings.Count(tg.Expr, "(") != strings.Count(tg.Expr, ")") {
				t.Errorf("panel %q: unbalanced parentheses in %s", p.Title, tg.Expr)
			}
		}
	}
	all := strings.Join(titles, "|")
	for _, want := range []string{"statements", "lag", "dead letters", "flush latency", "decisions"} {
		if !strings.Contains(all, want) {
			t.Errorf("no panel about %q (titles: %s)", want, all)
		}
	}
}

// k8s returns the manifests under deploy/k8s by kind.
func k8s(t *testing.T) map[string]map[string]any {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir(t), "deploy/k8s/*.yaml"))
	out := map[string]map[string]any{}
	for _, f := range files {
		rel, _ := filepath.Rel(dir(t), f)
		for _, d := range yamlDocs(t, rel) {
			out[str(d["kind"])] = d
		}
	}
	return out
}

func TestKubernetesManifestsFitTogether(t *testing.T) {
	m := k8s(t)
	for _, kind := range []string{"Deployment", "Service", "ConfigMap", "PodDisruptionBudget", "ScaledObject", "ServiceAccount", "Kustomization"} {
		if m[kind] == nil {
			t.Fatalf("deploy/k8s has no %s", kind)
		}
	}
	dep := m["Deployment"]
	name := str(get(dep, "metadata", "name"))
	pod := get(dep, "spec", "template")
	podLabels, _ := get(pod, "metadata", "labels").(map[string]any)
	matches := func(what string, sel any) {
		t.Helper()
		s, _ := sel.(map[string]any)
		if len(s) == 0 {
			t.Errorf("%s has an empty selector", what)
		}
		for k, v := range s {
			if podLabels[k] != v {
				t.Errorf("%s selects %s=%v, which the pods do not carry", what, k, v)
			}
		}
	}
	matches("Deployment", get(dep, "spec", "selector", "matchLabels"))
	matches("Service", get(m["Service"], "spec", "selector"))
	matches("PodDisruptionBudget", get(m["PodDisruptionBudget"], "spec", "selector", "matchLabels"))

	c := get(pod, "spec", "containers", 0)
	port := get(c, "ports", 0, "containerPort")
	for probe, path := range map[string]string{"livenessProbe": "/healthz", "readinessProbe": "/readyz"} {
		if got := str(get(c, probe, "httpGet", "path")); got != path {
			t.Errorf("%s path %q, want %s", probe, got, path)
		}
	}
	if ann := get(pod, "metadata", "annotations"); str(get(ann, "prometheus.io/scrape")) != "true" || str(get(ann, "prometheus.io/port")) != str(port) {
		t.Errorf("pod scrape annotations %v do not point at container port %v", ann, port)
	}
	for _, k := range []string{"requests", "limits"} {
		if get(c, "resources", k, "memory") == nil || get(c, "resources", k, "cpu") == nil {
			t.Errorf("container resources.%s needs cpu and memory", k)
		}
	}
	if get(pod, "spec", "securityContext", "runAsNonRoot") != true || get(c, "securityContext", "readOnlyRootFilesystem") != true ||
		get(c, "securityContext", "allowPrivilegeEscalation") != false {
		t.Error("pod must run as non-root with a read-only root filesystem and no privilege escalation")
	}
	cm, _ := get(m["ConfigMap"], "data").(map[string]any)
	if ref := str(get(c, "envFrom", 0, "configMapRef", "name")); ref != str(get(m["ConfigMap"], "metadata", "name")) {
		t.Errorf("container takes env from ConfigMap %q, which is not the one in deploy/k8s", ref)
	}
	env := map[string]any{}
	for _, e := range get(c, "env").([]any) {
		env[str(get(e, "name"))] = e
	}
	for _, k := range runEnv {
		if _, inCM := cm[k]; !inCM && env[k] == nil {
			t.Errorf("%s is set neither in the ConfigMap nor in the container env", k)
		}
	}
	if get(env["UNPAIR_LEARNER_SECRET"], "valueFrom", "secretKeyRef", "name") == nil {
		t.Error("UNPAIR_LEARNER_SECRET must come from a Secret (secretKeyRef)")
	}
	if _, inCM := cm["UNPAIR_LEARNER_SECRET"]; inCM {
		t.Error("the learner secret must not sit in the ConfigMap")
	}
	if addr := str(cm["UNPAIR_HTTP_ADDR"]); !strings.HasSuffix(addr, ":"+str(port)) {
		t.Errorf("UNPAIR_HTTP_ADDR %q does not listen on the container port %v", addr, port)
	}

	so := m["ScaledObject"]
	if got := str(get(so, "spec", "scaleTargetRef", "name")); got != name {
		t.Errorf("ScaledObject scales %q, the Deployment is %q", got, name)
	}
	if got := get(so, "spec", "maxReplicaCount"); got != maxPartition {
		t.Errorf("ScaledObject maxReplicaCount %v, want the partition count %d", got, maxPartition)
	}
	// With re-keying on, the input topic is read by the re-key stage in group
	// <group>.rekey and the by-learner topic by the aggregating stage in <group>.
	group := str(cm["UNPAIR_GROUP"])
	groupOf := map[string]string{"xapi.statements": group + ".rekey", "unpair.by-learner": group}
	if str(cm["UNPAIR_REKEY"]) != "true" {
		t.Fatalf("these manifests assume UNPAIR_REKEY true, got %q", cm["UNPAIR_REKEY"])
	}
	var scaled []string
	for _, tr := range get(so, "spec", "triggers").([]any) {
		if str(get(tr, "type")) != "kafka" {
			continue
		}
		topic := str(get(tr, "metadata", "topic"))
		if g := str(get(tr, "metadata", "consumerGroup")); g != groupOf[topic] {
			t.Errorf("kafka trigger on %s reads the lag of group %q; the stage reading it is group %q", topic, g, groupOf[topic])
		}
		scaled = append(scaled, topic)
	}
	slices.Sort(scaled)
	if want := slices.Sorted(slices.Values(inputTopics)); !slices.Equal(scaled, want) {
		t.Errorf("kafka triggers on topics %v, want the lag of %v", scaled, inputTopics)
	}

	files, _ := filepath.Glob(filepath.Join(dir(t), "deploy/k8s/*.yaml"))
	var listed []string
	for _, r := range get(m["Kustomization"], "resources").([]any) {
		listed = append(listed, str(r))
	}
	for _, f := range files {
		if b := filepath.Base(f); b != "kustomization.yaml" && !slices.Contains(listed, b) {
			t.Errorf("kustomization.yaml does not list %s", b)
		}
	}
}

func TestDockerfileBuildsAStaticNonRootImage(t *testing.T) {
	df := string(read(t, "deploy/Dockerfile"))
	stages := regexp.MustCompile(`(?m)^FROM\s+(\S+)`).FindAllStringSubmatch(df, -1)
	if len(stages) < 2 {
		t.Fatalf("Dockerfile has %d stages, want a build stage and a final one", len(stages))
	}
	if !strings.HasPrefix(stages[0][1], "golang:") {
		t.Errorf("build stage %s, want golang", stages[0][1])
	}
	final := stages[len(stages)-1][1]
	if !strings.HasPrefix(final, "gcr.io/distroless/static") && final != "scratch" {
		t.Errorf("final stage %s, want distroless/static or scratch", final)
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "./cmd/unpair"} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %s", want)
		}
	}
	users := regexp.MustCompile(`(?m)^USER\s+(\S+)`).FindAllStringSubmatch(df, -1)
	if len(users) == 0 || strings.HasPrefix(users[len(users)-1][1], "0") || strings.HasPrefix(users[len(users)-1][1], "root") {
		t.Errorf("final image must run as a non-root USER, got %v", users)
	}
}
