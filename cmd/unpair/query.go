package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/unpair/unpair/processor/catalog"
	"github.com/unpair/unpair/processor/client"
)

func init() {
	register("query", "ask Redis which contents are suppressed for a learner, and why", runQuery)
}

const queryUsage = "usage: unpair query --redis ADDR[,ADDR...] [--secret S] [--prefix P] [--cluster] [--catalog FILE] LEARNER CONTENT..."

func runQuery(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("query", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported in one line below
	addrs := fs.String("redis", os.Getenv("UNPAIR_REDIS"), "Redis address, or comma-separated cluster seeds (default $UNPAIR_REDIS)")
	secret := fs.String("secret", os.Getenv("UNPAIR_LEARNER_SECRET"), "learner key secret, for a LEARNER given as IFI or actor JSON (default $UNPAIR_LEARNER_SECRET)")
	prefix := fs.String("prefix", "", "key prefix the processor writes with (default unpair)")
	cluster := fs.Bool("cluster", false, "treat a single --redis address as a Redis Cluster seed")
	timeout := fs.Duration("timeout", 5*time.Second, "give up after this long")
	catFile := fs.String("catalog", os.Getenv("UNPAIR_CATALOG"), "catalog FILE (JSON or CSV), to decide content the learner never touched from its skills (default $UNPAIR_CATALOG; none: such content is allowed)")
	// Flags may come before, between or after the positional arguments.
	var pos []string
	for rest := args; ; {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprintln(stderr, queryUsage)
				fs.SetOutput(stderr)
				fs.PrintDefaults()
				return 0
			}
			return fail(stderr, 2, usageError{fmt.Errorf("query: %v (%s)", err, queryUsage)})
		}
		rest = fs.Args()
		if len(rest) == 0 {
			break
		}
		pos = append(pos, rest[0])
		rest = rest[1:]
	}
	if strings.TrimSpace(*addrs) == "" {
		return fail(stderr, 2, usageError{fmt.Errorf("query: --redis: required (or set UNPAIR_REDIS) (%s)", queryUsage)})
	}
	if len(pos) < 2 {
		return fail(stderr, 2, usageError{fmt.Errorf("query: need a LEARNER and at least one CONTENT (%s)", queryUsage)})
	}
	if *timeout <= 0 {
		return fail(stderr, 2, usageError{fmt.Errorf("query: --timeout %v: must be positive", *timeout)})
	}

	var cat *catalog.Catalog
	if *catFile != "" {
		snap, err := catalog.Load(*catFile)
		if err != nil {
			return fail(stderr, 2, usageError{fmt.Errorf("query: --catalog: %w", err)})
		}
		cat = catalog.NewCatalog(snap)
	}

	rdb := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: queryAddrs(*addrs), IsClusterMode: *cluster})
	defer rdb.Close()
	c, err := client.New(rdb, client.Options{Secret: []byte(*secret), Prefix: *prefix, Catalog: cat})
	if err != nil {
		return fail(stderr, 2, usageError{fmt.Errorf("query: --prefix: %w", err)})
	}
	learner := client.Learner(pos[0])
	key, err := c.Key(learner)
	if err != nil {
		return fail(stderr, 2, usageError{fmt.Errorf("query: LEARNER: %w", err)})
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()

	fmt.Fprintf(stdout, "learner %s\n", key)
	for _, content := range pos[1:] {
		x, err := c.Explain(ctx, client.Learner(key), content)
		if err != nil {
			return fail(stderr, 1, fmt.Errorf("query: %w", err))
		}
		fmt.Fprintln(stdout, describeQuery(x))
	}
	return 0
}

// describeQuery renders one pair as a line: the verdict, the content, and the
// decision behind it; "derived=skills" marks a decision not stored but
// decided from the learner's skills (content never touched, --catalog).
func describeQuery(x client.Explanation) string {
	var b strings.Builder
	if x.Active {
		b.WriteString("suppressed  ")
	} else {
		b.WriteString("allowed     ")
	}
	b.WriteString(x.Content)
	d := x.Decision
	switch {
	case d == nil:
		b.WriteString("  (no decision)")
	case x.Active:
		fmt.Fprintf(&b, "  reason=%s", d.Reason)
		if x.Derived {
			b.WriteString(" derived=skills")
		}
		if d.Until != 0 {
			fmt.Fprintf(&b, " until=%s", time.UnixMilli(d.Until).UTC().Format(time.RFC3339))
		}
		if d.Explanation != "" {
			fmt.Fprintf(&b, "  %s", d.Explanation)
		}
	case d.Suppressed: // suppressed, but its until has passed
		fmt.Fprintf(&b, "  (suppression for %s ended %s", d.Reason, time.UnixMilli(d.Until).UTC().Format(time.RFC3339))
		if x.Derived {
			b.WriteString("; derived=skills")
		}
		b.WriteString(")")
	default:
		fmt.Fprintf(&b, "  (no longer suppressed: %s", d.Reason)
		if d.Explanation != "" {
			fmt.Fprintf(&b, "; %s", d.Explanation)
		}
		b.WriteString(")")
	}
	return b.String()
}

func queryAddrs(s string) []string {
	var out []string
	for _, a := range strings.Split(s, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}
