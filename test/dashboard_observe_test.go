package test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/gridctl/grid/test/harness"
)

// TestDashboardTrendsFailoversAndEntityPage: with --read-token set, the
// dashboard reads nothing until the token is typed in, then loads and
// streams with it; after 3 leader kills it shows the trend charts and a
// failover strip with every term and the leaderless gaps; an entity page
// draws the entity's neighbourhood in the event graph.
func TestDashboardTrendsFailoversAndEntityPage(t *testing.T) {
	b := newBrowser(t)
	const readToken = "read-token-for-the-dashboard"
	c := harness.NewCluster(t, harness.Options{
		Security:   &harness.Security{APIToken: "full-token-for-the-harness", ReadToken: readToken},
		MasterArgs: []string{"--dashboard-sample-interval", "1s"},
	})
	leader := c.WaitLeader(30 * time.Second)
	page := c.Followers(leader)[0] // the page's own master stays up

	b.do(chromedp.EmulateViewport(1280, 900), chromedp.Navigate("http://"+page.HTTP+"/"))
	b.waitJS(20*time.Second, "the page to say reads need a token",
		`document.querySelectorAll('[data-testid=master-row]').length === 0 &&
		 (document.body.textContent.includes('token') || document.body.textContent.includes('401'))`)
	if _, err := b.evalBool(fmt.Sprintf(`(() => { const i = document.querySelector('[data-testid=api-token]');
		i.value = %q; i.dispatchEvent(new Event('change')); return true; })()`, readToken)); err != nil {
		t.Fatal(err)
	}
	b.waitJS(30*time.Second, "the overview with the read token",
		`document.querySelectorAll('[data-testid=master-row]').length === 3`)
	b.waitJS(20*time.Second, "the live stream with the read token",
		`document.querySelector('[data-testid=stream-state]').textContent === 'live'`)

	// Three leader kills; each killed master comes back before the next.
	for i := 0; i < 3; i++ {
		old := c.WaitLeader(30 * time.Second)
		if old == page { // never kill the page's master: move leadership off it first
			grid(t, c, "operator", "raft", "transfer-leadership", "--master", page.GRPC, "--api-token", "full-token-for-the-harness")
			old = c.WaitLeader(30 * time.Second)
		}
		if err := old.Kill(); err != nil {
			t.Fatal(err)
		}
		c.WaitLeader(30 * time.Second) // among the live masters: a new one
		if err := old.Start(); err != nil {
			t.Fatal(err)
		}
		c.WaitSameState(60 * time.Second)
	}
	b.waitJS(40*time.Second, "the failover strip with 4 terms and 3 leaderless gaps",
		`document.querySelectorAll('[data-testid=failover-term]').length >= 4 &&
		 document.querySelectorAll('[data-testid=failover-gap]').length >= 3`)
	b.waitJS(30*time.Second, "the trend charts with data",
		`!!document.querySelector('[data-testid=chart-events]') && !!document.querySelector('[data-testid=chart-commit]') &&
		 document.querySelectorAll('[data-testid=chart-events] [data-testid=chart-bar]').length > 0 &&
		 document.querySelectorAll('[data-testid=chart-heartbeats] [data-testid=chart-line]').length > 0`)
	b.screenshot("dashboard-trends-1280.png")

	cur := c.WaitLeader(30 * time.Second)
	b.do(chromedp.Navigate("http://" + page.HTTP + "/#/entity/" + cur.ID))
	b.waitJS(30*time.Second, "the entity page with its timeline and graph",
		`!document.querySelector('[data-testid=entity-page]').classList.contains('hidden') &&
		 document.querySelectorAll('[data-testid=entity-event]').length > 0 &&
		 document.querySelectorAll('[data-testid=entity-graph] [data-testid=graph-node][data-kind=event]').length > 0 &&
		 document.querySelectorAll('[data-testid=entity-graph] [data-testid=graph-node][data-kind=time]').length > 0`)
	b.screenshot("dashboard-entity-1280.png")
	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Fatalf("the page logged console errors:\n%s", strings.Join(errs, "\n"))
	}
}
