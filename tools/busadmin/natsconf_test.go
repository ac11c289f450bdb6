package main

import (
	"path/filepath"
	"testing"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/onekey-oss/onekey/pkg/bus"
)

// The production NATS configuration (docker compose's nodes; the README
// asks the same of any other) is a node of a 3-node JetStream cluster that
// fsyncs every write before acking it: with the server's default (a sync
// every two minutes) nodes crashing with their OS could lose acked events.
func TestNatsConfig_ProductionNodesSyncEveryWriteBeforeTheAck(t *testing.T) {
	creds, err := bus.NewCredentials()
	if err != nil {
		t.Fatal(err)
	}
	pubs, err := creds.PublicKeys()
	if err != nil {
		t.Fatal(err)
	}
	for u, pub := range pubs {
		t.Setenv(bus.NkeyEnv(u), pub)
	}
	t.Setenv("NATS_NAME", "nats-1")
	opts, err := server.ProcessConfigFile(filepath.Join("..", "..", "deployments", "nats", "nats.conf"))
	if err != nil {
		t.Fatalf("nats-server refuses deployments/nats/nats.conf: %v", err)
	}
	if !opts.JetStream || opts.Cluster.Name == "" || len(opts.Routes) != 3 {
		t.Errorf("not a node of a 3-node JetStream cluster: jetstream %v, cluster %q, %d routes", opts.JetStream, opts.Cluster.Name, len(opts.Routes))
	}
	if !opts.SyncAlways {
		t.Errorf("deployments/nats/nats.conf does not set sync_interval: always (syncs every %s)", opts.SyncInterval)
	}
}
