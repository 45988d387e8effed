package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	armonmetrics "github.com/armon/go-metrics"
	armonprom "github.com/armon/go-metrics/prometheus"
	"github.com/gridctl/grid/rpc"
	"github.com/hashicorp/go-hclog"
	gometrics "github.com/hashicorp/go-metrics"
	gmprom "github.com/hashicorp/go-metrics/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/urfave/cli/v2"
)

// logJSONFlag is --log-json, on every long-running command.
func logJSONFlag(envVar string) cli.Flag {
	return &cli.BoolFlag{Name: "log-json", EnvVars: []string{envVar}, Usage: "write log lines as JSON objects (one per line)"}
}

// newLogBroker builds the process's root logger from --log-level and
// --log-json, behind the log fan-out `grid monitor` streams from.
func newLogBroker(c *cli.Context, name string) (*rpc.LogBroker, error) {
	level, err := rpc.ParseLogLevel(c.String("log-level"))
	if err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	return rpc.NewLogBroker(&hclog.LoggerOptions{Name: name, Level: level, Output: os.Stderr, JSONFormat: c.Bool("log-json")}), nil
}

// libraryMetricsExpiry is how long a library metric that stopped being
// reported stays in /metrics.
const libraryMetricsExpiry = time.Hour

// newMetricsRegistry is a process's Prometheus registry: Go runtime and
// process collectors, grid_build_info, and the bridge that carries the
// metrics of hashicorp/raft, memberlist, raft-boltdb and autopilot. Those
// report through go-metrics/compat, which forwards to armon/go-metrics
// (default build) or hashicorp/go-metrics (build tag hashicorpmetrics):
// both globals get a Prometheus sink on this registry, so the names are
// the libraries' own (raft_commitTime, memberlist_gossip, ...).
func newMetricsRegistry(logger hclog.Logger) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(buildInfo())

	if sink, err := gmprom.NewPrometheusSinkFrom(gmprom.PrometheusOpts{Registerer: reg, Expiration: libraryMetricsExpiry, Name: "grid_hashicorp_metrics_sink"}); err != nil {
		logger.Warn("library metrics bridge (hashicorp/go-metrics) disabled", "error", err)
	} else {
		mc := gometrics.DefaultConfig("")
		mc.EnableHostname, mc.EnableRuntimeMetrics, mc.EnableServiceLabel = false, false, false
		if _, err := gometrics.NewGlobal(mc, sink); err != nil {
			logger.Warn("library metrics bridge (hashicorp/go-metrics) disabled", "error", err)
		}
	}
	if sink, err := armonprom.NewPrometheusSinkFrom(armonprom.PrometheusOpts{Registerer: reg, Expiration: libraryMetricsExpiry, Name: "grid_armon_metrics_sink"}); err != nil {
		logger.Warn("library metrics bridge (armon/go-metrics) disabled", "error", err)
	} else {
		mc := armonmetrics.DefaultConfig("")
		mc.EnableHostname, mc.EnableRuntimeMetrics, mc.EnableServiceLabel = false, false, false
		if _, err := armonmetrics.NewGlobal(mc, sink); err != nil {
			logger.Warn("library metrics bridge (armon/go-metrics) disabled", "error", err)
		}
	}
	return reg
}

// buildInfo is grid_build_info{version,commit,go_version} 1.
func buildInfo() prometheus.Collector {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "grid", Name: "build_info",
		Help: "Always 1; the labels say which build of grid this process runs."}, []string{"version", "commit", "go_version"})
	g.WithLabelValues(version, buildCommit(), runtime.Version()).Set(1)
	return g
}

// buildCommit is the VCS revision of this binary ("unknown" when neither
// -ldflags nor the build info says).
func buildCommit() string {
	if commit != "" && commit != "unknown" {
		return commit
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				return s.Value
			}
		}
	}
	return "unknown"
}

// debugConfig is /debug/config: the version and every flag's value, with
// secrets (tokens, keys) redacted.
func debugConfig(c *cli.Context, role string) map[string]any {
	flags := map[string]any{}
	for _, f := range c.Command.Flags {
		name := f.Names()[0]
		v := c.Value(name)
		if isSecretFlag(name) {
			if c.IsSet(name) {
				v = "[redacted]"
			} else {
				v = ""
			}
		}
		flags[name] = v
	}
	return map[string]any{"role": role, "version": version, "commit": buildCommit(), "go_version": runtime.Version(),
		"pid": os.Getpid(), "flags": flags}
}

// isSecretFlag reports flags whose values are never shown.
func isSecretFlag(name string) bool {
	for _, s := range []string{"token", "encrypt", "key", "secret", "password"} {
		if strings.Contains(name, s) {
			return true
		}
	}
	return false
}

// dataDirCollector reports the free and total space of the file system
// holding a data directory (the "disk nearly full" alert).
type dataDirCollector struct {
	dir                 string
	available, capacity *prometheus.Desc
}

func newDataDirCollector(dir string) prometheus.Collector {
	return &dataDirCollector{dir: dir,
		available: prometheus.NewDesc("grid_data_dir_available_bytes", "Bytes available to this process on the file system of its data directory.", nil, nil),
		capacity:  prometheus.NewDesc("grid_data_dir_capacity_bytes", "Size in bytes of the file system of this process's data directory.", nil, nil),
	}
}

func (d *dataDirCollector) Describe(ch chan<- *prometheus.Desc) { ch <- d.available; ch <- d.capacity }

func (d *dataDirCollector) Collect(ch chan<- prometheus.Metric) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(d.dir, &st); err != nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(d.available, prometheus.GaugeValue, float64(st.Bavail)*float64(st.Bsize))
	ch <- prometheus.MustNewConstMetric(d.capacity, prometheus.GaugeValue, float64(st.Blocks)*float64(st.Bsize))
}
