// Package harness starts real `grid` processes (masters, agents) on loopback
// ports for the black-box tests in test/, the benchmarks in test/bench and the
// chaos suite in test/chaos: build or find bin/grid, allocate free ports, start,
// SIGKILL, SIGSTOP, restart, and wait for conditions (through test/waitfor). Each
// process's data dir and log live under one directory that is kept when the
// test fails.
package harness
