package pipeline

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go/sasl/plain"
)

// TestRedisACLUserAndAPIToken runs the pipeline as a Redis ACL user
// limited to its key prefix, with a query API token: the result equals the
// clean pass, the query API answers 401 without the token and 200 with
// it, health and metrics need none; a wrong password fails Build with one
// line naming the setting.
func TestRedisACLUserAndAPIToken(t *testing.T) {
	r := newRig(t, 2)
	ctx := context.Background()
	user := "unpair-test-" + r.cfg.RedisPrefix
	const pw = "acl-test-password"
	if err := r.rdb.Do(ctx, "ACL", "SETUSER", user, "on", ">"+pw, "~"+r.cfg.RedisPrefix+":*", "+@all").Err(); err != nil {
		t.Fatalf("ACL SETUSER: %v", err)
	}
	t.Cleanup(func() { r.rdb.Do(context.Background(), "ACL", "DELUSER", user) })

	// the user may not touch keys outside its prefix: the ACL is real
	limited := redis.NewClient(&redis.Options{Addr: r.redis, Username: user, Password: pw})
	defer limited.Close()
	if err := limited.Set(ctx, "outside-the-prefix", "x", time.Minute).Err(); err == nil || !strings.Contains(err.Error(), "NOPERM") {
		t.Fatalf("ACL user wrote outside its prefix: %v", err)
	}

	wrong := r.cfg
	wrong.RedisUsername, wrong.RedisPassword = user, "not-the-password"
	if b, err := Build(wrong, nil); err == nil {
		b.Close()
		t.Fatal("Build with a wrong Redis password succeeded")
	} else if msg := err.Error(); !strings.Contains(msg, "redis-password") || strings.Contains(msg, "\n") || strings.Contains(msg, "not-the-password") {
		t.Errorf("wrong password: error %q, want one line naming redis-password and not the password", msg)
	}

	r.cfg.RedisUsername, r.cfg.RedisPassword = user, pw
	r.cfg.APIToken = "query-token"
	msgs := cohort(t, 30, 150, 41)
	r.produce(msgs)
	in := r.start(testLogger(t))
	r.waitDone(90 * time.Second)

	// the processor's connections are the ACL user's
	if list := r.rdb.ClientList(ctx).Val(); !strings.Contains(list, "user="+user+" ") {
		t.Errorf("no Redis connection of user %s while the processor runs", user)
	}
	base := "http://" + in.p.Addr()
	learner := ""
	for l := range runOracle(t, r.readAll(r.cfg.ByLearnerTopic)).state {
		learner = l
		break
	}
	get := func(path, token string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	query := "/v1/learners/" + learner + "/suppressions?content=a,b"
	for _, tc := range []struct {
		path, token string
		want        int
	}{
		{query, "", http.StatusUnauthorized},
		{query, "wrong", http.StatusUnauthorized},
		{query, "query-token", http.StatusOK},
		{"/v1/contents/barely-touched", "", http.StatusUnauthorized},
		{"/v1/contents/barely-touched", "query-token", http.StatusOK},
		{"/healthz", "", http.StatusOK},
		{"/readyz", "", http.StatusOK},
		{"/metrics", "", http.StatusOK},
	} {
		if got := get(tc.path, tc.token); got != tc.want {
			t.Errorf("GET %s with token %q = %d, want %d", tc.path, tc.token, got, tc.want)
		}
	}
	in.stop(t)

	by := r.readAll(r.cfg.ByLearnerTopic)
	r.checkStage1(msgs, by)
	o := runOracle(t, by)
	r.checkRedis(o)
	r.checkDecisionTopic(o)
}

func TestKafkaSecuritySettings(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := selfSigned(t, dir)
	bad := func(c Config, want string) {
		t.Helper()
		c.Brokers, c.Redis = []string{"k:9092"}, []string{"r:6379"}
		c.WithDefaults()
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: error %v, want one naming %q", c.KafkaSASL, err, want)
		}
	}
	bad(Config{KafkaSASL: SASL{Mechanism: "GSSAPI", Username: "u", Password: "p"}}, "kafka-sasl-mechanism")
	bad(Config{KafkaSASL: SASL{Mechanism: "PLAIN", Password: "p"}}, "kafka-sasl-username")
	bad(Config{KafkaSASL: SASL{Mechanism: "SCRAM-SHA-256", Username: "u"}}, "kafka-sasl-password")
	bad(Config{KafkaSASL: SASL{Username: "u"}}, "kafka-sasl-mechanism: required")
	bad(Config{KafkaTLS: TLSFiles{CertFile: certFile}}, "kafka-tls-cert, kafka-tls-key")
	bad(Config{KafkaTLS: TLSFiles{CAFile: filepath.Join(dir, "none.pem")}}, "kafka-tls-ca")
	bad(Config{RedisTLS: TLSFiles{CAFile: filepath.Join(dir, "none.pem")}}, "redis-tls-ca")
	bad(Config{RedisUsername: "u"}, "redis-password")

	for _, mech := range []string{"PLAIN", "scram-sha-256", "SCRAM-SHA-512"} {
		c := Config{Brokers: []string{"sec-" + mech + ":9092"}, KafkaSASL: SASL{Mechanism: mech, Username: "u", Password: "p"},
			KafkaTLS: TLSFiles{CAFile: certFile, CertFile: certFile, KeyFile: keyFile}}
		kc, err := c.KafkaConn()
		if err != nil {
			t.Fatalf("%s: %v", mech, err)
		}
		if kc.SASL == nil || !strings.EqualFold(kc.SASL.Name(), mech) || kc.TLS == nil || kc.TLS.RootCAs == nil || len(kc.TLS.Certificates) != 1 || kc.TLS.InsecureSkipVerify {
			t.Fatalf("%s: connection settings %+v", mech, kc)
		}
		// every client the pipeline makes uses them
		RegisterKafkaConn(c.Brokers, kc)
		if g := groupConfig(&c, "g", "t"); g.Dialer == nil || g.Dialer.SASLMechanism != kc.SASL || g.Dialer.TLS != kc.TLS {
			t.Errorf("%s: consumer group dialer without SASL/TLS", mech)
		}
		if w := newWriter(&c); w.Transport == nil {
			t.Errorf("%s: writer without transport", mech)
		}
		cl, done := freshClient(c.Brokers)
		if tr, ok := cl.Transport.(interface{ CloseIdleConnections() }); !ok || tr == nil {
			t.Errorf("%s: admin client transport %T", mech, cl.Transport)
		}
		done()
		if kafkaConnFor(c.Brokers).SASL != kc.SASL {
			t.Errorf("%s: registry lost the settings", mech)
		}
		RegisterKafkaConn(c.Brokers, KafkaConn{})
	}
	if m, _ := (SASL{Mechanism: "plain", Username: "u", Password: "p"}).mechanism(); m != (plain.Mechanism{Username: "u", Password: "p"}) {
		t.Errorf("PLAIN mechanism %+v", m)
	}
	// plaintext: no SASL, no TLS, kafka-go's own transport
	plainCfg := Config{Brokers: []string{"plain:9092"}}
	if kc, err := plainCfg.KafkaConn(); err != nil || kc.SASL != nil || kc.TLS != nil {
		t.Errorf("plaintext: %+v %v", kc, err)
	}
	if w := newWriter(&plainCfg); w.Transport != nil {
		t.Error("plaintext writer got a transport")
	}
	// Redis: cluster client with one seed when asked
	rc := Config{Redis: []string{"r:6379"}, RedisCluster: true, RedisUsername: "u", RedisPassword: "p", RedisTLS: TLSFiles{Enabled: true}}
	rdb, err := rc.RedisClient()
	if err != nil {
		t.Fatal(err)
	}
	if cc, ok := rdb.(*redis.ClusterClient); !ok || cc.Options().Username != "u" || cc.Options().TLSConfig == nil {
		t.Errorf("redis-cluster with one address: %T", rdb)
	}
	rdb.Close()
}

// selfSigned writes a self-signed certificate and its key as PEM files.
func selfSigned(t *testing.T, dir string) (string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "unpair-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}
