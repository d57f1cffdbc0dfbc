package pipeline

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"

	"github.com/unpair/unpair/schema"
)

// poison is one hostile input message and what it is.
type poison struct {
	name  string
	value []byte
	array bool // a JSON array: its valid statements may pass, its invalid ones are dead-lettered
}

// poisonInputs returns every invalid vector of ../shared/xapi-vectors, random
// bytes, a 1 MiB statement, and JSON nested 100,000 levels deep.
func poisonInputs(t *testing.T) []poison {
	t.Helper()
	dir := filepath.Join("..", "..", "..", "shared", "xapi-vectors", "invalid")
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no invalid vectors in %s (%v)", dir, err)
	}
	var out []poison
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		trimmed := strings.TrimSpace(string(b))
		out = append(out, poison{name: "vector " + filepath.Base(f), value: b, array: strings.HasPrefix(trimmed, "[") && len(trimmed) > 2})
	}
	rng := rand.New(rand.NewPCG(7, 7))
	for i := range 40 {
		b := make([]byte, 1+rng.IntN(4096))
		for j := range b {
			b[j] = byte(rng.UintN(256))
		}
		out = append(out, poison{name: fmt.Sprintf("random bytes #%d (%d B)", i, len(b)), value: b})
	}
	// a statement of exactly 1 MiB (a huge extension value)
	head := `{"actor":{"mbox":"mailto:big@example.com"},"verb":{"id":"http://adlnet.gov/expapi/verbs/answered"},"object":{"id":"https://x.test/q1"},"result":{"extensions":{"https://x.test/pad":"`
	tail := `"}}}`
	pad := strings.Repeat("a", 1<<20-len(head)-len(tail))
	out = append(out, poison{name: "1 MiB statement", value: []byte(head + pad + tail)})
	const depth = 100_000 // under MaxStatementBytes, so the decoder's depth rule is what rejects them
	out = append(out,
		poison{name: "arrays nested 100k deep", value: []byte(strings.Repeat("[", depth) + strings.Repeat("]", depth))},
		poison{name: "objects nested 100k deep", value: []byte(strings.Repeat(`{"":`, depth) + "1" + strings.Repeat("}", depth))},
		poison{name: "statement with an actor nested 100k deep", value: []byte(`{"actor":` + strings.Repeat(`{"":`, depth) + "1" + strings.Repeat("}", depth) +
			`,"verb":{"id":"http://adlnet.gov/expapi/verbs/answered"},"object":{"id":"https://x.test/q1"}}`)},
		poison{name: "empty value", value: []byte{}},
		poison{name: "whitespace", value: []byte(" \n\t ")},
		poison{name: "empty array", value: []byte("[]")},
	)
	return out
}

// TestPoisonInputIsDeadLetteredAndTheStreamGoesOn sends every kind of bad
// input ahead of a valid cohort: each is dead-lettered with a reason and its
// violations, nothing panics (no reason "internal"), and the valid
// statements after them give the state of one clean pass.
func TestPoisonInputIsDeadLetteredAndTheStreamGoesOn(t *testing.T) {
	r := newRig(t, 2)
	// the broker must take the 1 MiB statement for the processor to see it
	cl, done := freshClient(r.brokers)
	res, err := cl.AlterConfigs(context.Background(), &kafka.AlterConfigsRequest{Resources: []kafka.AlterConfigRequestResource{{
		ResourceType: kafka.ResourceTypeTopic, ResourceName: r.cfg.InputTopic,
		Configs: []kafka.AlterConfigRequestConfig{{Name: "max.message.bytes", Value: "4194304"}},
	}}})
	done()
	if err != nil || res.Errors[kafka.AlterConfigsResponseResource{Type: int8(kafka.ResourceTypeTopic), Name: r.cfg.InputTopic}] != nil {
		t.Fatalf("cannot raise max.message.bytes of the input: %v %v", err, res)
	}
	bad := poisonInputs(t)
	w := &kafka.Writer{Addr: kafka.TCP(r.brokers...), Topic: r.cfg.InputTopic, Balancer: &kafka.RoundRobin{},
		RequiredAcks: kafka.RequireAll, BatchSize: 50, BatchBytes: 4 << 20, BatchTimeout: 2 * time.Millisecond, Transport: &kafka.Transport{}}
	out := make([]kafka.Message, len(bad))
	for i, p := range bad {
		out[i] = kafka.Message{Key: []byte(fmt.Sprintf("poison-%d", i)), Value: p.value}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	err = w.WriteMessages(ctx, out...)
	cancel()
	w.Close()
	if err != nil {
		t.Fatalf("cannot produce the poison: %v", err)
	}
	msgs := cohort(t, 30, 120, 43)
	r.produce(msgs)

	in := r.start(testLogger(t))
	r.waitDone(120 * time.Second)
	if n := testutil.ToFloat64(in.p.Metrics().Statements.WithLabelValues(OutcomeDeadLettered, ReasonInternal)); n != 0 {
		t.Errorf("%v statements dead-lettered as internal (a recovered panic)", n)
	}
	in.stop(t)

	// every poison message has its dead letters, each with a reason and
	// the violations
	input := r.readAll(r.cfg.InputTopic)
	nameAt := map[pos]poison{}
	for p, ms := range input {
		for _, m := range ms {
			if strings.HasPrefix(string(m.Key), "poison-") {
				var i int
				fmt.Sscanf(string(m.Key), "poison-%d", &i)
				nameAt[pos{p, m.Offset}] = bad[i]
			}
		}
	}
	if len(nameAt) != len(bad) {
		t.Fatalf("%d poison messages in the input, produced %d", len(nameAt), len(bad))
	}
	dead := map[pos][]string{}
	for _, ms := range r.readAll(r.cfg.DeadLetterTopic) {
		for _, m := range ms {
			o := originOf(&m)
			reason, _ := Header(m, HeaderReason)
			errText, _ := Header(m, HeaderError)
			at := pos{o.Partition, o.Offset}
			dead[at] = append(dead[at], reason)
			if reason == "" || strings.TrimSpace(errText) == "" {
				t.Errorf("dead letter of %s lacks a reason or violations", nameAt[at].name)
			}
			if reason == ReasonInternal {
				t.Errorf("%s: dead-lettered as internal: %s", nameAt[at].name, errText)
			}
			if len(m.Value) > MaxStatementBytes {
				t.Errorf("dead letter of %s carries %d bytes", nameAt[at].name, len(m.Value))
			}
		}
	}
	// What the pipeline's decoder (tolerant, as in production) rejects must
	// be dead-lettered; an invalid vector it accepts must be a tolerated
	// deviation it records (schema's Tolerant mode), and be processed.
	dec := SchemaDecoder{D: schema.NewDecoder(schema.Options{Keyer: schema.NewLearnerKeyer([]byte(testSecret)), MaxBytes: MaxStatementBytes})}
	reasons := map[string]int{}
	missing, tolerated := 0, 0
	for at, p := range nameAt {
		rejected, deviations := false, 0
		for _, raw := range splitArray(p.value) {
			evs, err := dec.Decode(nil, raw, time.Now())
			if err != nil || len(evs) == 0 {
				rejected = true
			}
			for _, ev := range evs {
				if ev.Deviations != 0 {
					deviations++
				}
			}
		}
		rs := dead[at]
		switch {
		case !rejected && len(rs) > 0:
			t.Errorf("%s: accepted by the decoder but dead-lettered (%v)", p.name, rs)
		case !rejected && deviations == 0 && !p.array:
			t.Errorf("%s: accepted without a recorded deviation", p.name)
		case !rejected:
			tolerated++
			continue
		case len(rs) == 0:
			missing++
			t.Errorf("%s: not dead-lettered", p.name)
			continue
		}
		for _, r := range rs {
			reasons[r]++
		}
	}
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range reasons {
			if !yield(k) {
				return
			}
		}
	})
	var summary []string
	for _, k := range keys {
		summary = append(summary, fmt.Sprintf("%s=%d", k, reasons[k]))
	}
	t.Logf("%d poison messages: %d tolerated as recorded deviations, %d not dead-lettered; dead letters by reason: %s",
		len(bad), tolerated, missing, strings.Join(summary, " "))

	// the valid statements after the poison were processed: the clean pass
	by := r.readAll(r.cfg.ByLearnerTopic)
	o := runOracle(t, by)
	r.checkRedis(o)
	r.checkDecisionTopic(o)
}
