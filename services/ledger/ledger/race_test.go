//go:build race

package ledger_test

// raceEnabled: under the race detector the embedded FerretDB runs an order
// of magnitude slower, so the crash test runs a scaled-down mix.
const raceEnabled = true
