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
