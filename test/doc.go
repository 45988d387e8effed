// Package test holds Grid's black-box tests: they build bin/grid, start real
// masters and agents on loopback (test/harness), and kill, pause and restart
// them while checking what an operator would check.
package test
