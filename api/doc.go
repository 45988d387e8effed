// Package api owns Grid's HTTP face on every master: the REST API under
// /api/grid (DESIGN.md "REST contract"), the Server-Sent Events stream of the
// replicated event history, /healthz, /readyz, /metrics and the embedded
// dashboard (plain HTML/CSS/JS in web/, served with go:embed, no build step).
//
// The package talks to the cluster only through the small Backend interface,
// a plain Go interface over the rpc messages. cluster.Backend implements it
// in-process (cmd wires it, no connection to the master's own gRPC port), so
// every REST call goes through the same validation, forwarding and
// consistency rules as the gRPC API. Inputs are validated here
// before the backend is called; gRPC status codes become HTTP statuses only
// at this edge (errors.go).
//
// Files: server.go (Config, Server, routing), routes.go (cluster and node
// handlers), events.go (event listing and its query parameters), sse.go (the
// live stream), views.go (the REST JSON shapes), json.go (decoding and
// encoding), validate.go (request validation), errors.go (sentinel errors and
// status mapping), auth.go (bearer tokens on mutating calls and reads), cors.go,
// metrics.go (HTTP metrics and /metrics), timeseries.go (the dashboard's
// chart samples), graph.go (event-graph neighbours for the entity page),
// debug.go (/debug/config and, with EnableDebug, pprof), alerts.go (GET
// /api/grid/alerts and the views of aggregate, why and anchored answers) and
// dashboard.go; web/alerts.js is the dashboard's alerts panel and answer
// rendering.
package api
