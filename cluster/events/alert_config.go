package events

import (
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsimple"
)

// AlertFile is the content of an --alert-rules file (HCL, or JSON when the
// name ends in .json): rule and webhook blocks.
//
//	alert_rule "crash_loop" { threshold = 5  window = "15m" }
//	alert_rule "quorum_at_risk" { enabled = false }
//	alert_rule "stop_trouble" {
//	  event_types = ["stop_failed"]  group_by = "entity"  threshold = 2  window = "5m"
//	}
//	webhook "pager" {
//	  url = "https://pager.example/hook"  secret_file = "/etc/grid/hook.key"
//	  event_types = ["alert_fired", "alert_resolved"]   # ["*"]: every event
//	}
type AlertFile struct {
	Rules    []fileRule    `hcl:"alert_rule,block"`
	Webhooks []fileWebhook `hcl:"webhook,block"`
}

type fileRule struct {
	Name       string    `hcl:"name,label"`
	Kind       *string   `hcl:"kind,optional"`
	EventTypes *[]string `hcl:"event_types,optional"`
	GroupBy    *string   `hcl:"group_by,optional"`
	Threshold  *int      `hcl:"threshold,optional"`
	Window     *string   `hcl:"window,optional"`
	For        *string   `hcl:"for,optional"`
	Enabled    *bool     `hcl:"enabled,optional"`
	Range      hcl.Range `hcl:",def_range"`
}

type fileWebhook struct {
	Name       string    `hcl:"name,label"`
	URL        string    `hcl:"url"`
	Secret     string    `hcl:"secret,optional"`
	SecretFile string    `hcl:"secret_file,optional"`
	EventTypes []string  `hcl:"event_types,optional"`
	Range      hcl.Range `hcl:",def_range"`
}

// LoadAlertFile reads rules and webhooks from path. Every error names the
// file and line: a zero window, a negative threshold, an unknown event type
// or a webhook URL that is not http(s) is refused.
func LoadAlertFile(path string) ([]AlertRule, []WebhookConfig, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("alert rules: %w", err)
	}
	name := path
	if !strings.HasSuffix(path, ".json") && !strings.HasSuffix(path, ".hcl") {
		name = path + ".hcl" // hclsimple picks the syntax by suffix
	}
	var f AlertFile
	if err := hclsimple.Decode(name, src, nil, &f); err != nil {
		return nil, nil, fmt.Errorf("alert rules: %s", strings.ReplaceAll(err.Error(), name, path))
	}
	at := func(r hcl.Range) string { return fmt.Sprintf("%s:%d", path, r.Start.Line) }
	defaults := DefaultAlertRules()
	var rules []AlertRule
	for _, fr := range f.Rules {
		r, err := fr.rule(defaults)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: alert_rule %q: %w", at(fr.Range), fr.Name, err)
		}
		if !r.Disabled {
			if err := r.Validate(); err != nil {
				return nil, nil, fmt.Errorf("%s: alert_rule %q: %w", at(fr.Range), fr.Name, err)
			}
		}
		rules = append(rules, r)
	}
	var hooks []WebhookConfig
	for _, fw := range f.Webhooks {
		w := WebhookConfig{Name: fw.Name, URL: fw.URL, Secret: fw.Secret, EventTypes: fw.EventTypes}
		if fw.SecretFile != "" {
			b, err := os.ReadFile(fw.SecretFile)
			if err != nil {
				return nil, nil, fmt.Errorf("%s: webhook %q: secret_file: %w", at(fw.Range), fw.Name, err)
			}
			w.Secret = strings.TrimSpace(string(b))
		}
		if err := w.Validate(); err != nil {
			return nil, nil, fmt.Errorf("%s: webhook %q: %w", at(fw.Range), fw.Name, err)
		}
		hooks = append(hooks, w)
	}
	return rules, hooks, nil
}

// rule builds the rule of a block: a built-in name starts from the
// built-in's settings, a new name from nothing.
func (fr fileRule) rule(defaults []AlertRule) (AlertRule, error) {
	r := AlertRule{Name: fr.Name, Kind: RuleCount, GroupBy: GroupByEntity}
	for _, d := range defaults {
		if d.Name == fr.Name {
			r = d
		}
	}
	if fr.Enabled != nil && !*fr.Enabled {
		r.Disabled = true
		return r, nil
	}
	if fr.Kind != nil {
		r.Kind = *fr.Kind
	}
	if fr.EventTypes != nil {
		r.EventTypes = nil
		for _, s := range *fr.EventTypes {
			t, err := rpc.ParseEventType(s)
			if err != nil {
				return r, err
			}
			r.EventTypes = append(r.EventTypes, t)
		}
	}
	if fr.GroupBy != nil {
		r.GroupBy = *fr.GroupBy
	}
	if fr.Threshold != nil {
		r.Threshold = *fr.Threshold
	}
	for _, d := range []struct {
		s   *string
		dst *time.Duration
		key string
	}{{fr.Window, &r.Window, "window"}, {fr.For, &r.For, "for"}} {
		if d.s == nil {
			continue
		}
		v, err := time.ParseDuration(*d.s)
		if err != nil {
			return r, fmt.Errorf("%s: %w", d.key, err)
		}
		*d.dst = v
	}
	return r, nil
}

// WebhookConfig is one webhook: where alerts (and optionally other events)
// are POSTed, the HMAC secret and the event types it receives.
type WebhookConfig struct {
	// Name keys the replicated position; default "wh-" + a hash of the URL.
	Name string
	URL  string
	// Secret signs each body (X-Grid-Signature: sha256=HMAC-SHA256 hex); empty = unsigned.
	Secret string
	// EventTypes it receives: empty = alerts only (alert_fired,
	// alert_resolved, webhook_failing); "*" = every event.
	EventTypes []string
}

// Validate refuses a URL that is not http(s) and unknown event types.
func (w WebhookConfig) Validate() error {
	u, err := url.Parse(w.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("webhook url %q must be an http:// or https:// URL", w.URL)
	}
	if w.Name != "" && validateEntity("webhook name", w.Name) != nil {
		return fmt.Errorf("webhook name %q is not a valid id", w.Name)
	}
	for _, t := range w.EventTypes {
		if t == "*" {
			continue
		}
		if _, err := rpc.ParseEventType(t); err != nil {
			return err
		}
	}
	if slices.Contains(w.EventTypes, "*") && len(w.EventTypes) > 1 {
		return fmt.Errorf("webhook event_types: \"*\" stands alone")
	}
	return nil
}
