//go:build race

package cluster_test

// raceEnabled: under the race detector the services and the embedded
// FerretDB run several times slower, so the failover test runs a smaller
// load (the full one: see loadSize).
const raceEnabled = true
