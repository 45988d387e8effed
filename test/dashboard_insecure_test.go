package test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/gridctl/grid/test/harness"
)

// TestDashboardWarnsWhenUnprotected: a master without any token whose HTTP
// address is not loopback logs a warning and its dashboard shows a
// visible banner; a loopback-only master shows none.
func TestDashboardWarnsWhenUnprotected(t *testing.T) {
	b := newBrowser(t)
	port, err := harness.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	// The last --http-addr wins: every interface, so not loopback.
	c := harness.NewCluster(t, harness.Options{Masters: 1, MasterArgs: []string{"--http-addr", fmt.Sprintf("0.0.0.0:%d", port)}})
	m := c.WaitLeader(30 * time.Second)
	logContains(t, m.Proc, "the insecure warning in the master's log", "without any token")
	b.do(chromedp.Navigate(fmt.Sprintf("http://127.0.0.1:%d/", port)))
	b.waitJS(20*time.Second, "the unprotected banner is shown",
		`(() => { const e = document.querySelector('[data-testid=insecure-banner]');
		  return !!e && !e.classList.contains('hidden') && e.offsetHeight > 0 && e.textContent.includes('--acl'); })()`)

	safe := harness.NewCluster(t, harness.Options{Masters: 1})
	s := safe.WaitLeader(30 * time.Second)
	for addr, want := range map[string]bool{fmt.Sprintf("127.0.0.1:%d", port): true, s.HTTP: false} {
		resp, err := http.Get("http://" + addr + "/api/grid/ui-config")
		if err != nil {
			t.Fatal(err)
		}
		var cfg struct {
			Insecure bool `json:"insecure"`
		}
		err = json.NewDecoder(resp.Body).Decode(&cfg)
		resp.Body.Close()
		if err != nil || cfg.Insecure != want {
			t.Fatalf("%s ui-config insecure = %v (%v), want %v", addr, cfg.Insecure, err, want)
		}
	}
	b.do(chromedp.Navigate("http://" + s.HTTP + "/"))
	b.waitJS(20*time.Second, "a loopback master's page has loaded",
		`document.querySelector('[data-testid=leader-id]').textContent === `+fmt.Sprintf("%q", s.ID))
	if shown, err := b.evalBool(`!document.querySelector('[data-testid=insecure-banner]').classList.contains('hidden')`); err != nil || shown {
		t.Fatalf("a loopback master shows the unprotected banner (%v)", err)
	}
}
