package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/unpair/unpair/processor/engagement"
)

func init() {
	register("report", "print per-content engagement: figures, barely touched, mostly mastered", runReport)
}

func runReport(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("report", flag.ContinueOnError)
	fl.SetOutput(stderr)
	addr := fl.String("redis", os.Getenv("UNPAIR_REDIS"), "Redis address(es), comma-separated (default $UNPAIR_REDIS)")
	prefix := fl.String("prefix", "", `key prefix the processor writes with ("" = unpair)`)
	contents := fl.String("contents", "", "comma-separated content ids (default: every content with figures in the window)")
	days := fl.Int("days", engagement.MaxDays, "window in days, 1..30, ending today (UTC)")
	asCSV := fl.Bool("csv", false, "print CSV instead of a table")
	list := fl.String("list", "all", "what to print: all, figures, barely-touched, mastered")
	limit := fl.Int("limit", 20, "entries per ranked list")
	idle := fl.Int("idle-days", engagement.DefaultRule().IdleDays, "days without activity before a started learner counts as idle")
	fl.Usage = func() {
		fmt.Fprintln(stderr, "usage: unpair report --redis ADDR [--contents a,b] [--days 30] [--csv] [--list all|figures|barely-touched|mastered]")
		fl.PrintDefaults()
	}
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fl.NArg() > 0 {
		return fail(stderr, 2, usageError{fmt.Errorf("report: unexpected argument %q", fl.Arg(0))})
	}
	if strings.TrimSpace(*addr) == "" {
		return fail(stderr, 2, usageError{errors.New("report: --redis: required (or set UNPAIR_REDIS)")})
	}
	if *days < 1 || *days > engagement.MaxDays {
		return fail(stderr, 2, usageError{fmt.Errorf("report: --days %d: must be in 1..%d", *days, engagement.MaxDays)})
	}
	if !slices.Contains([]string{"all", "figures", "barely-touched", "mastered"}, *list) {
		return fail(stderr, 2, usageError{fmt.Errorf("report: --list %q: must be all, figures, barely-touched or mastered", *list)})
	}
	if *asCSV && *list == "all" {
		*list = "figures" // one CSV table per run
	}
	rule := engagement.DefaultRule()
	rule.IdleDays = *idle
	if err := rule.Validate(); err != nil {
		return fail(stderr, 2, usageError{fmt.Errorf("report: --idle-days: %w", err)})
	}
	var ids []string
	for _, c := range strings.Split(*contents, ",") {
		if c = strings.TrimSpace(c); c != "" {
			ids = append(ids, c)
		}
	}
	rdb := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: strings.Split(*addr, ",")})
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r := engagement.NewReader(rdb, rule, engagement.Keys{Prefix: *prefix})
	now := time.Now()
	q := engagement.Query{Contents: ids, Days: *days, Now: now, Limit: *limit}

	write := engagement.WriteTable
	if *asCSV {
		write = engagement.WriteCSV
	}
	section := func(title string, fs []engagement.Figures) error {
		if !*asCSV {
			fmt.Fprintf(stdout, "%s (%d days to %s)\n", title, *days, now.UTC().Format("2006-01-02"))
			if len(fs) == 0 {
				fmt.Fprintln(stdout, "  none")
				return nil
			}
		}
		return write(stdout, fs)
	}
	if *list == "all" || *list == "figures" {
		if len(ids) == 0 {
			var err error
			if ids, err = r.Contents(ctx, *days, now); err != nil {
				return fail(stderr, 1, err)
			}
		}
		fs, err := r.Figures(ctx, ids, *days, now)
		if err != nil {
			return fail(stderr, 1, err)
		}
		slices.SortStableFunc(fs, func(a, b engagement.Figures) int { return int(min(max(b.Starts-a.Starts, -1), 1)) })
		if err := section("Contents by starts", fs); err != nil {
			return fail(stderr, 1, err)
		}
	}
	for _, l := range []struct {
		name, title string
		rank        func(context.Context, engagement.Query) ([]engagement.Figures, error)
	}{
		{"barely-touched", "Barely touched: started, left idle without getting far", r.BarelyTouched},
		{"mastered", "Mostly already mastered: suppressed as mastered for most learners", r.Mastered},
	} {
		if *list != "all" && *list != l.name {
			continue
		}
		fs, err := l.rank(ctx, q)
		if err != nil {
			return fail(stderr, 1, err)
		}
		if *list == "all" {
			fmt.Fprintln(stdout)
		}
		if err := section(l.title, fs); err != nil {
			return fail(stderr, 1, err)
		}
	}
	return 0
}
