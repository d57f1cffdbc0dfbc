package pipeline

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
)

// This file holds how the processor authenticates to Kafka and Redis: SASL
// and TLS for every Kafka connection (partition readers, the writer, both
// consumer groups, metadata and admin requests), ACL user and TLS for
// Redis.

// SASL mechanisms of KafkaSASL.Mechanism.
const (
	SASLPlain       = "PLAIN"
	SASLScramSHA256 = "SCRAM-SHA-256"
	SASLScramSHA512 = "SCRAM-SHA-512"
)

// SASL is the SASL authentication of Kafka connections. An empty Mechanism
// means none.
type SASL struct {
	Mechanism string // PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (case-insensitive)
	Username  string
	Password  string
}

// TLSFiles is a TLS client configuration read from PEM files. TLS is on
// when Enabled, or when any file is given.
type TLSFiles struct {
	Enabled            bool
	CAFile             string // CA bundle that signs the server's certificate; "" uses the system pool
	CertFile           string // client certificate (mutual TLS), with KeyFile
	KeyFile            string
	InsecureSkipVerify bool // never verify the server's certificate: tests only
}

// On reports whether TLS is in use.
func (t TLSFiles) On() bool {
	return t.Enabled || t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" || t.InsecureSkipVerify
}

func (s SASL) validate(name string) error {
	var errs []error
	switch strings.ToUpper(s.Mechanism) {
	case "":
		if s.Username != "" || s.Password != "" {
			errs = append(errs, fmt.Errorf("%s-mechanism: required when %s-username or %s-password is set (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)", name, name, name))
		}
		return errors.Join(errs...)
	case SASLPlain, SASLScramSHA256, SASLScramSHA512:
	default:
		errs = append(errs, fmt.Errorf("%s-mechanism: %q must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", name, s.Mechanism))
	}
	if s.Username == "" {
		errs = append(errs, fmt.Errorf("%s-username: required with %s-mechanism %s", name, name, s.Mechanism))
	}
	if s.Password == "" {
		errs = append(errs, fmt.Errorf("%s-password: required with %s-mechanism %s", name, name, s.Mechanism))
	}
	return errors.Join(errs...)
}

// mechanism returns the kafka-go SASL mechanism, nil for none.
func (s SASL) mechanism() (sasl.Mechanism, error) {
	switch strings.ToUpper(s.Mechanism) {
	case "":
		return nil, nil
	case SASLPlain:
		return plain.Mechanism{Username: s.Username, Password: s.Password}, nil
	case SASLScramSHA256:
		return scram.Mechanism(scram.SHA256, s.Username, s.Password)
	case SASLScramSHA512:
		return scram.Mechanism(scram.SHA512, s.Username, s.Password)
	}
	return nil, fmt.Errorf("kafka-sasl-mechanism: %q must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", s.Mechanism)
}

func (t TLSFiles) validate(name string) error {
	var errs []error
	if (t.CertFile == "") != (t.KeyFile == "") {
		errs = append(errs, fmt.Errorf("%s-cert, %s-key: give both or neither", name, name))
	}
	for _, f := range []struct{ setting, path string }{{name + "-ca", t.CAFile}, {name + "-cert", t.CertFile}, {name + "-key", t.KeyFile}} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f.setting, err))
		}
	}
	return errors.Join(errs...)
}

// Config returns the crypto/tls configuration, nil when TLS is off. name
// prefixes the settings named in errors (kafka-tls, redis-tls).
func (t TLSFiles) Config(name string) (*tls.Config, error) {
	if !t.On() {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: t.InsecureSkipVerify}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%s-ca: %w", name, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s-ca: %s holds no PEM certificate", name, t.CAFile)
		}
		c.RootCAs = pool
	}
	if t.CertFile != "" || t.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("%s-cert, %s-key: %w", name, name, err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// KafkaConn is how to open connections to one Kafka cluster: the SASL
// mechanism and TLS configuration, both nil for plaintext.
type KafkaConn struct {
	SASL sasl.Mechanism
	TLS  *tls.Config
}

// KafkaConn builds the connection settings from KafkaSASL and KafkaTLS.
func (c *Config) KafkaConn() (KafkaConn, error) {
	m, err := c.KafkaSASL.mechanism()
	if err != nil {
		return KafkaConn{}, err
	}
	t, err := c.KafkaTLS.Config("kafka-tls")
	if err != nil {
		return KafkaConn{}, err
	}
	return KafkaConn{SASL: m, TLS: t}, nil
}

// Dialer returns a dialer (readers, consumer groups, admin connections)
// with the connection settings.
func (k KafkaConn) Dialer() *kafka.Dialer {
	return &kafka.Dialer{Timeout: 10 * time.Second, DualStack: true, SASLMechanism: k.SASL, TLS: k.TLS}
}

// Transport returns a transport (writers, clients) with the connection
// settings; metadataTTL 0 keeps kafka-go's default.
func (k KafkaConn) Transport(metadataTTL time.Duration) *kafka.Transport {
	return &kafka.Transport{SASL: k.SASL, TLS: k.TLS, MetadataTTL: metadataTTL, DialTimeout: 10 * time.Second}
}

// kafkaConns holds the connection settings per broker list, for the helpers
// that take only the broker addresses (metadata, end offsets, topic
// creation). New registers a Config's; a list not registered connects in
// plaintext.
var kafkaConns sync.Map // brokersKey -> KafkaConn

func brokersKey(brokers []string) string { return strings.Join(brokers, ",") }

// RegisterKafkaConn makes every Kafka connection to brokers use k.
func RegisterKafkaConn(brokers []string, k KafkaConn) {
	if k.SASL == nil && k.TLS == nil {
		kafkaConns.Delete(brokersKey(brokers))
		return
	}
	kafkaConns.Store(brokersKey(brokers), k)
}

// kafkaConnFor returns the connection settings registered for brokers.
func kafkaConnFor(brokers []string) KafkaConn {
	if v, ok := kafkaConns.Load(brokersKey(brokers)); ok {
		return v.(KafkaConn)
	}
	return KafkaConn{}
}

// RedisClient returns the Redis client of c: a cluster client when
// RedisCluster is set or several addresses are given, else a single-node
// client, with the ACL user, password and TLS of c.
func (c *Config) RedisClient() (redis.UniversalClient, error) {
	tc, err := c.RedisTLS.Config("redis-tls")
	if err != nil {
		return nil, err
	}
	if len(c.Redis) == 0 {
		return nil, errors.New("redis: at least one Redis address is required (UNPAIR_REDIS)")
	}
	if c.RedisCluster || len(c.Redis) > 1 {
		return redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Redis, Username: c.RedisUsername,
			Password: c.RedisPassword, TLSConfig: tc}), nil
	}
	return redis.NewClient(&redis.Options{Addr: c.Redis[0], Username: c.RedisUsername,
		Password: c.RedisPassword, TLSConfig: tc}), nil
}

// CheckRedisAuth pings Redis once and turns a refusal of the credentials
// into an error naming the settings; a Redis that does not answer is not an
// error here (the processor waits for it like for an outage).
func CheckRedisAuth(ctx context.Context, rdb redis.UniversalClient, c *Config) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	err := rdb.Ping(ctx).Err()
	if err == nil {
		return nil
	}
	msg := err.Error()
	for _, code := range []string{"WRONGPASS", "NOAUTH", "NOPERM", "invalid password", "AUTH"} {
		if strings.Contains(msg, code) {
			user := c.RedisUsername
			if user == "" {
				user = "default"
			}
			return fmt.Errorf("redis-username, redis-password (UNPAIR_REDIS_USERNAME, UNPAIR_REDIS_PASSWORD): Redis refused user %q: %s", user, firstLine(msg))
		}
	}
	if c.RedisTLS.On() && (strings.Contains(msg, "tls") || strings.Contains(msg, "x509") || strings.Contains(msg, "certificate")) {
		return fmt.Errorf("redis-tls: cannot set up TLS to %s: %s", strings.Join(c.Redis, ","), firstLine(msg))
	}
	return nil
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
