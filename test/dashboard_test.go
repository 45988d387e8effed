package test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/harness"
	"github.com/gridctl/grid/test/waitfor"
)

// browser is a headless chromium page that records console errors and
// uncaught exceptions.
type browser struct {
	t      *testing.T
	ctx    context.Context
	mu     sync.Mutex
	errors []string
}

func chromiumPath() string {
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	return ""
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	path := chromiumPath()
	if path == "" {
		t.Skip("chromium is not installed (.ci/run installs it): skipping the browser tests")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.WindowSize(1280, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	b := &browser{t: t}
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf), chromedp.WithListener(b.listen))
	t.Cleanup(func() { cancel(); cancelAlloc() })
	b.ctx = ctx
	// The first run starts the browser and lives as long as ctx: no timeout here.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return b
}

// listen records console errors and uncaught exceptions (Runtime domain).
func (b *browser) listen(ev any) {
	switch e := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeAssert {
			var parts []string
			for _, a := range e.Args {
				parts = append(parts, string(a.Value)+a.Description)
			}
			b.record("console." + string(e.Type) + ": " + strings.Join(parts, " "))
		}
	case *runtime.EventExceptionThrown:
		msg := e.ExceptionDetails.Text
		if e.ExceptionDetails.Exception != nil {
			msg += " " + e.ExceptionDetails.Exception.Description
		}
		b.record("exception: " + msg)
	}
}

func (b *browser) record(msg string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.errors = append(b.errors, msg)
}

func (b *browser) consoleErrors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errors...)
}

// do runs steps in the page with a deadline.
func (b *browser) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("browser: %v", err)
	}
}

// evalBool evaluates a boolean JavaScript expression.
func (b *browser) evalBool(expr string) (bool, error) {
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
}

// evalString evaluates a JavaScript expression giving a string.
func (b *browser) evalString(expr string) (string, error) {
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[string](expr))
}

// text is the trimmed textContent of the element with a data-testid.
func (b *browser) text(testID string) string {
	s, err := b.evalString(fmt.Sprintf(`(document.querySelector('[data-testid=%q]')||{}).textContent||''`, testID))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(s)
}

// waitJS polls a boolean JavaScript expression until it is true.
func (b *browser) waitJS(timeout time.Duration, what, expr string) {
	b.t.Helper()
	waitfor.Until(b.t, timeout, what, func() (bool, string) {
		ok, err := b.evalBool(expr)
		if err != nil {
			return false, err.Error()
		}
		return ok, "page: leader=" + b.text("leader-id") + " banner=" + b.text("conn-banner") + " stream=" + b.text("stream-state")
	})
}

// screenshot writes a full-page PNG to test/artifacts/.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot: %v", err)
	}
	if err := os.MkdirAll("artifacts", 0o755); err != nil {
		b.t.Fatal(err)
	}
	path := filepath.Join("artifacts", name)
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot %s", path)
}

// css selects the first element matching a CSS selector.
func css(sel string) chromedp.CSS { return chromedp.CSS(sel) }

func TestDashboardFollowsTheClusterLive(t *testing.T) {
	b := newBrowser(t)
	c := harness.NewCluster(t, harness.Options{})
	leader := c.WaitLeader(30 * time.Second)
	withAgents := agentBuilt(t)
	if withAgents {
		c.AddAgent("agent-001", harness.AgentOptions{})
		c.AddAgent("agent-002", harness.AgentOptions{})
	}

	// Load the page from the leader: killing it later forces the page to
	// carry on through another master.
	b.do(chromedp.EmulateViewport(1280, 900), chromedp.Navigate("http://"+leader.HTTP+"/"))
	b.waitJS(30*time.Second, "the overview to show 3 masters and the leader",
		fmt.Sprintf(`document.querySelectorAll('[data-testid=master-row]').length === 3 &&
			document.querySelector('[data-testid=leader-id]').textContent === %q`, leader.ID))
	b.waitJS(20*time.Second, "the live stream to connect",
		`document.querySelector('[data-testid=stream-state]').textContent === 'live'`)
	if withAgents {
		b.waitJS(30*time.Second, "both agents on the page",
			`document.querySelectorAll('[data-testid=agent-row]').length === 2`)
	}
	b.screenshot("dashboard-1280.png")

	t.Run("query box answers spawn failures today", func(t *testing.T) {
		b.do(chromedp.SetValue(css(`[data-testid=query-input]`), "spawn failures today"),
			chromedp.Click(css(`[data-testid=query-submit]`)))
		b.waitJS(20*time.Second, "the query interpretation",
			`(document.querySelector('[data-testid=interp-event-types]')||{textContent:''}).textContent.includes('spawn_failed')`)
		if got := b.text("query-count"); got == "" {
			t.Fatal("query count not shown")
		}
	})

	t.Run("spawn form shows validation and spawned nodes", func(t *testing.T) {
		b.do(chromedp.SetValue(css(`[data-testid=spawn-port]`), "99999"),
			chromedp.Click(css(`[data-testid=spawn-submit]`)))
		b.waitJS(20*time.Second, "the server's validation message",
			`document.querySelector('[data-testid=spawn-result]').textContent.includes('port 99999')`)
		if !withAgents {
			t.Skip("`grid agent` is not built yet: skipping the spawn-from-the-form case")
		}
		if _, err := b.evalBool(`(document.querySelector('[data-testid=spawn-port]').value = '') === ''`); err != nil {
			t.Fatal(err)
		}
		b.do(chromedp.Click(css(`[data-testid=spawn-submit]`)))
		b.waitJS(60*time.Second, "the spawn to succeed",
			`document.querySelector('[data-testid=spawn-result]').textContent.startsWith('Spawned ')`)
		nodeID, err := b.evalString(`document.querySelector('[data-testid=spawn-result]').textContent.split(' ')[1]`)
		if err != nil {
			t.Fatal(err)
		}
		b.waitJS(30*time.Second, "the new node in the nodes table",
			fmt.Sprintf(`!!document.querySelector('[data-testid=nodes-table] [data-node-id=%q]')`, nodeID))
	})

	t.Run("killing the leader updates the page without a reload", func(t *testing.T) {
		if _, err := b.evalBool(`window.__gridNoReload = true`); err != nil {
			t.Fatal(err)
		}
		if err := leader.Kill(); err != nil {
			t.Fatal(err)
		}
		newLeader := c.WaitLeader(30 * time.Second)
		b.waitJS(30*time.Second, "the page to show the new leader "+newLeader.ID,
			fmt.Sprintf(`document.querySelector('[data-testid=leader-id]').textContent === %q`, newLeader.ID))
		b.waitJS(10*time.Second, "a banner saying the page's master died",
			`!document.querySelector('[data-testid=conn-banner]').classList.contains('hidden') &&
			 document.querySelector('[data-testid=conn-banner]').textContent.includes('unreachable')`)
		b.waitJS(10*time.Second, "the same page (no reload)", `window.__gridNoReload === true`)
		b.waitJS(20*time.Second, "the stream to reconnect through another master",
			`document.querySelector('[data-testid=stream-state]').textContent === 'live'`)
		b.screenshot("dashboard-after-failover-1280.png")
	})

	t.Run("a spawn whose reply is lost is re-posted with the same ids and makes one node", func(t *testing.T) {
		if !withAgents {
			t.Skip("`grid agent` is not built yet: skipping the spawn retry case")
		}
		countNodes := func() int {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			l, err := c.WaitLeader(30*time.Second).Client().ListStorageNodes(ctx, &rpc.Empty{})
			if err != nil {
				t.Fatal(err)
			}
			return len(l.Nodes)
		}
		before := countNodes()
		// The first spawn POST reaches the master, but the page never sees
		// its reply (as after a network error): the page must re-post it.
		if _, err := b.evalBool(`(() => {
			const real = window.fetch.bind(window);
			window.__gridSpawnTries = [];
			window.fetch = async (url, init) => {
				const r = await real(url, init);
				if (String(url).endsWith('/api/grid/spawn')) {
					window.__gridSpawnTries.push(init.body + ' ' + init.headers['X-Request-Id']);
					if (window.__gridSpawnTries.length === 1) throw new TypeError('reply lost');
				}
				return r;
			};
			return true;
		})()`); err != nil {
			t.Fatal(err)
		}
		b.do(chromedp.Click(css(`[data-testid=spawn-submit]`)))
		b.waitJS(60*time.Second, "the spawn form to finish",
			`document.querySelector('[data-testid=spawn-result]').textContent !== 'working…'`)
		if ok, err := b.evalBool(`window.__gridSpawnTries.length === 2 && document.querySelector('[data-testid=spawn-result]').textContent.startsWith('Spawned ')`); err != nil || !ok {
			res := b.text("spawn-result")
			tries, _ := b.evalString(`JSON.stringify(window.__gridSpawnTries)`)
			t.Fatalf("the lost-reply spawn did not succeed once re-posted: result %q, tries %s (%v)", res, tries, err)
		}
		same, err := b.evalBool(`window.__gridSpawnTries[0] === window.__gridSpawnTries[1] && window.__gridSpawnTries[0].includes('"node_id":"node-') && !window.__gridSpawnTries[0].endsWith(' undefined')`)
		if err != nil || !same {
			tries, _ := b.evalString(`JSON.stringify(window.__gridSpawnTries)`)
			t.Fatalf("the retry did not repeat the first try's node id and request id: %s (%v)", tries, err)
		}
		if after := countNodes(); after != before+1 {
			t.Fatalf("one click made %d nodes, want 1", after-before)
		}
	})

	t.Run("works at 390 px wide", func(t *testing.T) {
		b.do(chromedp.EmulateViewport(390, 844))
		b.waitJS(10*time.Second, "no horizontal overflow at 390 px",
			`document.documentElement.scrollWidth <= window.innerWidth`)
		b.screenshot("dashboard-390.png")
	})

	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Fatalf("the page logged console errors:\n%s", strings.Join(errs, "\n"))
	}
}
