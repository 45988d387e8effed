package test

import (
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/harness"
	"github.com/gridctl/grid/test/waitfor"
)

// TestDashboardAlertsAndAnswers: the alerts panel lists a fired crash_loop;
// an aggregate question draws bars, a why question a chain, and an unknown
// entity is named with a suggestion.
func TestDashboardAlertsAndAnswers(t *testing.T) {
	b := newBrowser(t)
	c := harness.NewCluster(t, harness.Options{})
	leader := c.WaitLeader(30 * time.Second)
	var evs []*rpc.Event
	for i := range 4 {
		e := rpc.NewEvent("dash-test", rpc.EventType_NODE_CRASHED, "node-dash1", map[string]string{"agent_id": "agent-dash"})
		e.Id = fmt.Sprintf("dash-crash-%d", i)
		evs = append(evs, e)
	}
	waitfor.Until(t, 30*time.Second, "crashes emitted", func() (bool, string) {
		ctx, cancel := harness.Ctx(10 * time.Second)
		defer cancel()
		_, err := leader.Client().EmitEvents(ctx, &rpc.EmitEventsRequest{Events: evs, Source: "dash-test"})
		return err == nil, fmt.Sprint(err)
	})
	b.do(chromedp.Navigate("http://" + leader.HTTP + "/"))
	b.waitJS(30*time.Second, "the alerts panel with crash_loop",
		`[...document.querySelectorAll('[data-testid=alert-row]')].some((r) => r.textContent.includes('crash_loop') && r.textContent.includes('node-dash1'))`)
	ask := func(q string) {
		t.Helper()
		if _, err := b.evalBool(fmt.Sprintf(`(() => { document.querySelector('[data-testid=query-input]').value = %q;
			document.querySelector('[data-testid=query-form]').requestSubmit(); return true; })()`, q)); err != nil {
			t.Fatal(err)
		}
	}
	ask("crashes per node")
	b.waitJS(20*time.Second, "bars for crashes per node",
		`document.querySelectorAll('[data-testid=query-bars] rect').length === 1 && document.querySelector('[data-testid=query-bars]').textContent.includes('node-dash1')`)
	ask("why did node-dash1 crash")
	b.waitJS(20*time.Second, "a why chain",
		`document.querySelectorAll('[data-testid=query-chain] li').length >= 4 && document.querySelector('[data-testid=query-chain]').textContent.includes('same entity node-dash1')`)
	ask("crashes of node-dash2")
	b.waitJS(20*time.Second, "the unknown entity with a suggestion",
		`(document.querySelector('[data-testid=query-unknown]') || {}).textContent?.includes('did you mean node-dash1')`)
	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Errorf("console errors: %v", errs)
	}
}
