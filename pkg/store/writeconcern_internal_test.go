package store

import (
	"testing"
)

func TestStore_WritesWaitForAMajorityUnlessTheURISaysOtherwise(t *testing.T) {
	cases := []struct {
		name, uri string
		want      any
	}{
		{"default", "mongodb://db-0,db-1,db-2/?replicaSet=rs0", "majority"},
		{"uri wins", "mongodb://db-0/?w=1", 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wc := clientOptions(c.uri).WriteConcern
			if wc == nil || wc.W != c.want {
				t.Fatalf("write concern %+v, want w=%v", wc, c.want)
			}
		})
	}
}
