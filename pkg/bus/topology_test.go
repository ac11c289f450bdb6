package bus_test

import (
	"testing"

	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/pkg/config"
)

func TestTopologyFrom_ReadsReplicasAndRefusesEvenCounts(t *testing.T) {
	t.Parallel()
	cases := []struct {
		env     map[string]string
		want    int
		wantErr bool
	}{
		{env: map[string]string{}, want: 1},
		{env: map[string]string{"NATS_STREAM_REPLICAS": "3"}, want: 3},
		{env: map[string]string{"NATS_STREAM_REPLICAS": "2"}, wantErr: true},
		{env: map[string]string{"NATS_STREAM_REPLICAS": "three"}, wantErr: true},
	}
	for _, c := range cases {
		r := config.NewReader(config.MapEnv(c.env))
		top := bus.TopologyFrom(r)
		if err := r.Err(); (err != nil) != c.wantErr {
			t.Fatalf("%v: err = %v, want error %v", c.env, err, c.wantErr)
		}
		if !c.wantErr && top.Replicas != c.want {
			t.Fatalf("%v: replicas %d, want %d", c.env, top.Replicas, c.want)
		}
	}
}

func TestTopologyFrom_ReadsLedgerPartitions(t *testing.T) {
	t.Parallel()
	for env, want := range map[string]int{"": 1, "1": 1, "4": 4, "0": -1, "65": -1, "x": -1} {
		r := config.NewReader(config.MapEnv(map[string]string{"LEDGER_PARTITIONS": env}))
		top := bus.TopologyFrom(r)
		if err := r.Err(); (err != nil) != (want < 0) {
			t.Fatalf("LEDGER_PARTITIONS=%q: err = %v", env, err)
		}
		if want > 0 && top.LedgerPartitions != want {
			t.Fatalf("LEDGER_PARTITIONS=%q: %d, want %d", env, top.LedgerPartitions, want)
		}
	}
}
