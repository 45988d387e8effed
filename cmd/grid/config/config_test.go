package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var testSchema = Schema{"data_dir": String, "bootstrap_expect": Int, "join": List, "tls_ca": String,
	"tls_cert": String, "autopilot_cleanup": Bool, "heartbeat_interval": Duration, "event_max_count": Uint}

func write(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDirectoryMergesInLexicalOrderHCLAndJSON(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "10-base.hcl", "data_dir = \"/a\"\nbootstrap_expect = 3\njoin = [\"10.0.0.1:7946\", \"10.0.0.2:7946\"]\ntls {\n  ca = \"ca.pem\"\n}\n")
	write(t, dir, "20-over.json", `{"data_dir": "/b", "tls": {"cert": "c.pem"}, "heartbeat_interval": "2s"}`)
	write(t, dir, "ignored.txt", "not = config")
	files, err := Files([]string{dir})
	if err != nil || len(files) != 2 {
		t.Fatalf("files %v %v", files, err)
	}
	vals, err := Load(files, testSchema)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"data_dir": "/b", "bootstrap_expect": "3", "join": "10.0.0.1:7946,10.0.0.2:7946",
		"tls_ca": "ca.pem", "tls_cert": "c.pem", "heartbeat_interval": "2s"}
	for k, v := range want {
		if vals[k].Text != v {
			t.Errorf("%s = %q, want %q", k, vals[k].Text, v)
		}
	}
	if len(vals["join"].Items) != 2 || !strings.HasSuffix(vals["data_dir"].Where, "20-over.json:1") {
		t.Errorf("join items %v, data_dir from %s", vals["join"].Items, vals["data_dir"].Where)
	}
}

func TestBadInputNamesFileLineAndKey(t *testing.T) {
	dir := t.TempDir()
	for name, c := range map[string]struct{ text, want string }{
		"unknown.hcl":  {"data_dir = \"/a\"\nnope = 1\n", `unknown.hcl:2: unknown key "nope"`},
		"type.hcl":     {"bootstrap_expect = \"three\"\n", `type.hcl:1: key "bootstrap_expect": want a whole number`},
		"frac.hcl":     {"bootstrap_expect = 2.5\n", `key "bootstrap_expect": want a whole number`},
		"neg.hcl":      {"event_max_count = -1\n", `key "event_max_count"`},
		"dur.hcl":      {"heartbeat_interval = \"5 parsecs\"\n", `key "heartbeat_interval": want a duration`},
		"dupblock.hcl": {"tls {\n ca = \"a\"\n}\ntls {\n cert = \"b\"\n}\n", `dupblock.hcl:4: duplicate block "tls"`},
		"dupkey.hcl":   {"data_dir = \"a\"\ndata_dir = \"b\"\n", "dupkey.hcl:2"},
		"badblock.hcl": {"storage {\n x = 1\n}\n", `unknown block "storage"`},
		"syntax.hcl":   {"data_dir = \n", "syntax.hcl:"},
		"list.json":    {`{"join": ["a:1", 2]}`, `key "join": want a list of strings`},
		"unknown.json": {`{"nope": true}`, `unknown key "nope"`},
	} {
		p := write(t, dir, name, c.text)
		_, err := Load([]string{p}, testSchema)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to contain %q", name, err, c.want)
		}
	}
}

func TestSecretFiles(t *testing.T) {
	dir := t.TempDir()
	ok := write(t, dir, "token", "  s3cret-token \n")
	if v, err := ReadSecretFile("api-token-file", ok); err != nil || v != "s3cret-token" {
		t.Fatalf("read %q %v", v, err)
	}
	open := write(t, dir, "open", "x")
	if err := os.Chmod(open, 0o644); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{open: "world-readable", filepath.Join(dir, "missing"): "no such file", write(t, dir, "empty", "\n"): "empty", dir: "not a regular file"} {
		if _, err := ReadSecretFile("api-token-file", path); err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "--api-token-file") {
			t.Errorf("%s: %v, want %q", path, err, want)
		}
	}
}

func TestTemplatesAndLoopbackRefusal(t *testing.T) {
	if out, err := ParseTemplate("grpc-addr", `{{ GetAllInterfaces | include "flags" "loopback" | include "type" "IPv4" | limit 1 | attr "address" }}:7000`); err != nil || out != "127.0.0.1:7000" {
		t.Fatalf("lo template: %q %v", out, err)
	}
	if _, err := ParseTemplate("grpc-addr", "{{ NoSuchFunc }}"); err == nil || !strings.Contains(err.Error(), "--grpc-addr") {
		t.Fatalf("bad template: %v", err)
	}
	if out, _ := ParseTemplate("grpc-addr", "10.1.2.3:7000"); out != "10.1.2.3:7000" {
		t.Fatal("a plain address must pass unchanged")
	}
	if err := CheckAdvertise("advertise-addr", "127.0.0.1:8001", []string{"127.0.0.1:7000", "localhost:7100"}); err != nil {
		t.Fatalf("all-loopback peers: %v", err)
	}
	err := CheckAdvertise("advertise-addr", "127.0.0.1:8001", []string{"10.0.0.2:7000"})
	if err == nil || !strings.Contains(err.Error(), "--advertise-addr") || !strings.Contains(err.Error(), "10.0.0.2:7000") {
		t.Fatalf("loopback advertise to remote peers: %v", err)
	}
	if err := CheckAdvertise("advertise-addr", "10.0.0.5:8001", []string{"10.0.0.2:7000"}); err != nil {
		t.Fatal(err)
	}
	if a := DefaultAdvertise("127.0.0.1:8001"); a != "127.0.0.1:8001" {
		t.Fatalf("a specific bind host is kept: %s", a)
	}
	if a := DefaultAdvertise(":8001"); !strings.HasSuffix(a, ":8001") || (PrivateIP() != "" && IsLoopback(a)) {
		t.Fatalf("unspecified host -> private IP: %s", a)
	}
}
