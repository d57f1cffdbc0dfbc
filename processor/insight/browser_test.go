package insight

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromium finds the Debian Chromium (or another Chrome) binary. A missing
// browser fails the test under UNPAIR_TEST_REQUIRE=1 and skips it otherwise.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("UNPAIR_TEST_REQUIRE") == "1" {
		t.Fatal("no chromium in PATH but UNPAIR_TEST_REQUIRE=1: install it (apt-get install -y chromium)")
	}
	t.Skip("NOT RUN: no chromium in PATH (apt-get install -y chromium)")
	return ""
}

// pageState is what the page shows, read in the browser.
type pageState struct {
	Ready    string              `json:"ready"`
	Barely   [][]string          `json:"barely"`
	Mastered [][]string          `json:"mastered"`
	Title    string              `json:"title"`
	Bars     map[string][]string `json:"bars"` // kind -> "date=value" of the detail chart
	Sparks   int                 `json:"sparks"`
	Learner  [][]string          `json:"learner"`
	Key      string              `json:"key"`
}

const readPage = `(() => {
  // A cell holding a chart reads as "svg": its tooltips are not text.
  const rows = (sel) => [...document.querySelectorAll(sel + " tbody tr")].map(tr => [...tr.cells].map(td => td.querySelector("svg") ? "svg" : td.textContent.trim()));
  const bars = {};
  for (const kind of ["starts", "completions"]) {
    bars[kind] = [...document.querySelectorAll("#chart svg.chart rect.bar." + kind)].map(r => r.dataset.date + "=" + r.dataset.value);
  }
  return {
    ready: document.body.dataset.ready || "",
    barely: rows("#barely"), mastered: rows("#mastered"),
    title: document.querySelector("#detail-title").textContent,
    bars, sparks: document.querySelectorAll("svg.spark").length,
    learner: rows("#learner"), key: document.querySelector("#learner-key").textContent,
  };
})()`

func TestInsightPageInBrowser(t *testing.T) {
	bin := chromium(t)
	f := newFixture(t)

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1000),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelA()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, 90*time.Second)
	defer cancelT()

	var raw string
	var st pageState
	read := func() {
		t.Helper()
		b, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](readPage))
		if err != nil {
			t.Fatalf("reading the page: %v", err)
		}
		raw = string(b)
		st = pageState{}
		if err := json.Unmarshal(b, &st); err != nil {
			t.Fatal(err)
		}
	}
	if err := chromedp.Do(ctx,
		chromedp.Navigate(f.srv.URL+"/insight/"),
		chromedp.WaitVisible(chromedp.CSS(`body[data-ready]`)),
		chromedp.WaitVisible(chromedp.CSS(`#chart svg.chart`)),
	); err != nil {
		t.Fatalf("loading the page: %v", err)
	}
	read()
	if st.Ready != "1" {
		t.Fatalf("page not ready (%q): %s", st.Ready, raw)
	}
	// Columns: content, starts, completion, learners, median time, rate,
	// sparkline. Median times are histogram estimates (TestContentEndpoint).
	wantBarely := [][]string{
		{cVideo, "10", "20%", "10", "2 min", "75%", "svg"},
		{cReading, "4", "0%", "4", "12 min", "25%", "svg"},
	}
	eq(t, "barely touched table", st.Barely, wantBarely)
	eq(t, "mastered table", st.Mastered, [][]string{{cQuiz, "5", "100%", "5", "6 min", "80%", "svg"}})
	eq(t, "sparklines", st.Sparks, 3)
	if !strings.HasPrefix(st.Title, cVideo) {
		t.Errorf("detail title %q: want the first barely-touched content selected", st.Title)
	}
	if len(st.Bars["starts"]) != 30 || len(st.Bars["completions"]) != 30 {
		t.Fatalf("detail chart: %d start bars, %d completion bars, want 30 each", len(st.Bars["starts"]), len(st.Bars["completions"]))
	}
	eq(t, "bar starts day -20", st.Bars["starts"][9], f.day(-20)+"=6")
	eq(t, "bar starts day -18", st.Bars["starts"][11], f.day(-18)+"=2")
	eq(t, "bar completions day -18", st.Bars["completions"][11], f.day(-18)+"=2")
	eq(t, "bar starts day -2", st.Bars["starts"][27], f.day(-2)+"=2")
	eq(t, "bar starts today", st.Bars["starts"][29], f.day(0)+"=0")

	// Select the quiz: the chart follows.
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#mastered tbody tr`)),
		chromedp.WaitVisible(chromedp.CSS(`#mastered tbody tr.selected`)),
	); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](
		`document.querySelector("#detail-title").textContent.startsWith(`+strconv.Quote(cQuiz)+`)`,
		chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		read()
		t.Fatalf("chart did not switch to the quiz: %v: %s", err, raw)
	}
	read()
	eq(t, "quiz completions day -5", st.Bars["completions"][24], f.day(-5)+"=5")

	// Learner lookup by IFI.
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`#learner-input`), alice),
		chromedp.Click(chromedp.CSS(`#learner-form button`)),
		chromedp.WaitVisible(chromedp.CSS(`#learner table tbody tr`)),
	); err != nil {
		t.Fatal(err)
	}
	read()
	if !strings.Contains(st.Key, f.alice) {
		t.Errorf("learner key line %q does not show key %s", st.Key, f.alice)
	}
	if len(st.Learner) != 3 {
		t.Fatalf("learner table: %v", st.Learner)
	}
	eq(t, "quiz row", st.Learner[0][:2], []string{cQuiz, "suppressed"})
	if !strings.HasPrefix(st.Learner[0][2], "mastered") || st.Learner[0][3] != f.day(10) {
		t.Errorf("quiz row %v: want reason mastered and review on %s", st.Learner[0], f.day(10))
	}
	eq(t, "reading row", []string{st.Learner[1][0], st.Learner[1][1], st.Learner[1][3]}, []string{cReading, "shown", f.day(-1) + " (due)"})
	eq(t, "video row", st.Learner[2][:2], []string{cVideo, "shown"})

	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	dir := os.Getenv("UNPAIR_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "insight.png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", path, len(png))
}
