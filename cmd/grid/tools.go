//go:build tools

// This file pins modules the project uses before code imports them.
package main

import (
	_ "github.com/BurntSushi/toml"
	_ "github.com/anishathalye/porcupine"
	_ "github.com/chromedp/chromedp"
	_ "github.com/hashicorp/go-hclog"
	_ "github.com/hashicorp/go-metrics"
	_ "github.com/hashicorp/go-metrics/compat"
	_ "github.com/hashicorp/go-metrics/prometheus"
	_ "github.com/hashicorp/memberlist"
	_ "github.com/hashicorp/raft"
	_ "github.com/hashicorp/raft-autopilot"
	_ "github.com/hashicorp/raft-boltdb/v2"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/prometheus/client_golang/prometheus/promhttp"
	_ "go.etcd.io/bbolt"
	_ "google.golang.org/grpc"
	_ "google.golang.org/grpc/reflection"
)
