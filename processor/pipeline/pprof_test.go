package pipeline

import (
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

func TestPprofOnlyWhenEnabled(t *testing.T) {
	get := func(pprof bool, path string) int {
		t.Helper()
		p := &Processor{cfg: Config{HTTPAddr: "127.0.0.1:0", Pprof: pprof}, d: Deps{Registry: prometheus.NewRegistry()},
			log: zap.NewNop(), health: &Health{}}
		srv, err := p.serve()
		if err != nil {
			t.Fatal(err)
		}
		defer p.closeServer(srv)
		resp, err := http.Get("http://" + p.Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get(true, "/debug/pprof/"); code != http.StatusOK {
		t.Errorf("pprof on: /debug/pprof/ = %d, want 200", code)
	}
	if code := get(true, "/debug/pprof/cmdline"); code != http.StatusNotFound {
		t.Errorf("pprof on: /debug/pprof/cmdline = %d, want 404 (the command line may hold secrets)", code)
	}
	if code := get(false, "/debug/pprof/"); code != http.StatusNotFound {
		t.Errorf("pprof off: /debug/pprof/ = %d, want 404", code)
	}
}
