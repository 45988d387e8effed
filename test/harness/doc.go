// Package harness starts real `grid` processes (masters, agents) on loopback
// ports for the black-box tests in test/, the benchmarks in test/bench and the
// chaos suite in test/chaos: build or find bin/grid, allocate free ports, start,
// SIGKILL, SIGSTOP, restart, and wait for conditions (through test/waitfor). Each
// process's data dir and log live under one directory that is kept when the
// test fails. netns.go builds networks of namespaces (NetworkSpec: the chaos
// suite's gridchaos-* on 10.77.0.0/24, the deploy tests' griddeploy-* on
// 10.78.0.0/24) for members with non-loopback addresses.
package harness
