package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/unpair/unpair/schema"
)

func init() {
	register("validate", "check xAPI statements (a statement, an array or NDJSON) against the spec", runValidate)
}

const validateUsage = `usage: unpair validate [--strict|--tolerant] [--spec auto|1.0.3|2.0.0] [FILE...]

Reads each FILE (standard input when none) holding one statement, a JSON
array of statements, or NDJSON, and prints one line per invalid statement:

  FILE:LINE: statement INDEX: PATH: RULE; PATH: RULE...

--tolerant (the default, as on ingestion) accepts the deviations real
emitters make when the evidence stays unambiguous, and prints them;
--strict applies the xAPI spec as written. Valid statements that ingestion
still refuses for unpair's limits (an object.id over 2048 bytes, a skill id
over 256, more than 32 skills) are reported as invalid too. Exit status: 0 all valid,
1 some statement invalid, 2 usage error or unreadable file.`

func runValidate(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	strict := fs.Bool("strict", false, "apply the xAPI spec as written")
	tolerant := fs.Bool("tolerant", false, "accept and print the deviations tolerated on ingestion (default)")
	spec := fs.String("spec", "auto", "xAPI version rules: auto, 1.0.3 or 2.0.0")
	maxBytes := fs.Int("max-bytes", schema.DefaultMaxBytes, "largest statement accepted")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stdout, validateUsage)
			return 0
		}
		return fail(stderr, 2, usageError{fmt.Errorf("validate: %w (see unpair validate -h)", err)})
	}
	if *strict && *tolerant {
		return fail(stderr, 2, usageError{errors.New("validate: --strict and --tolerant exclude each other")})
	}
	opt := schema.Options{Mode: schema.Tolerant, MaxBytes: *maxBytes}
	if *strict {
		opt.Mode = schema.Strict
	}
	switch *spec {
	case "auto":
	case "1.0.3", "1.0":
		opt.Spec = schema.Spec103
	case "2.0.0", "2.0":
		opt.Spec = schema.Spec200
	default:
		return fail(stderr, 2, usageError{fmt.Errorf("validate: --spec must be auto, 1.0.3 or 2.0.0, got %q", *spec)})
	}
	d := schema.NewDecoder(opt)
	files := fs.Args()
	if len(files) == 0 {
		files = []string{"-"}
	}
	var total, invalid, deviating int
	for _, name := range files {
		r, label := stdin, "<stdin>"
		var file *os.File
		if name != "-" {
			f, err := os.Open(name)
			if err != nil {
				return fail(stderr, 2, fmt.Errorf("validate: cannot read %s: %w", name, errors.Unwrap(err)))
			}
			r, label, file = f, name, f
		}
		for it, err := range schema.ReadStream(r, opt.MaxBytes) {
			total++
			if err != nil {
				invalid++
				fmt.Fprintf(stdout, "%s:%d: statement %d: cannot split the input: %v\n", label, it.Line, it.Index, err)
				break
			}
			var bad, devs []string
			for _, v := range d.Validate(it.Raw) {
				if v.Fatal() {
					bad = append(bad, v.String())
				} else {
					devs = append(devs, v.String()+" ["+v.Deviation.String()+"]")
				}
			}
			if len(bad) == 0 {
				// valid xAPI that ingestion still refuses: unpair's own
				// resource limits on content and skill ids
				if _, err := d.Normalize(it.Raw, time.Now()); err != nil {
					var se *schema.Error
					if errors.As(err, &se) && (se.Reason == schema.ReasonIDTooLong || se.Reason == schema.ReasonTooManySkills) {
						bad = append(bad, "refused on ingestion ("+string(se.Reason)+"): "+err.Error())
					}
				}
			}
			switch {
			case len(bad) > 0:
				invalid++
				fmt.Fprintf(stdout, "%s:%d: statement %d: %s\n", label, it.Line, it.Index, strings.Join(bad, "; "))
			case len(devs) > 0:
				deviating++
				fmt.Fprintf(stdout, "%s:%d: statement %d: accepted with deviations: %s\n", label, it.Line, it.Index, strings.Join(devs, "; "))
			}
		}
		if file != nil {
			file.Close()
		}
	}
	fmt.Fprintf(stderr, "unpair validate (%s): %d statements, %d invalid, %d with deviations\n", opt.Mode, total, invalid, deviating)
	if invalid > 0 {
		return 1
	}
	return 0
}
