package bus_test

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/onekey-oss/onekey/pkg/bus"
)

// The static server configuration (deployments, k8s) gives every user
// exactly the permissions the embedded server, and so every test, runs
// with.
func TestServerConfig_GivesEveryUserTheEmbeddedServersPermissions(t *testing.T) {
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
	path := filepath.Join(t.TempDir(), "users.conf")
	if err := os.WriteFile(path, []byte(bus.ServerConfig()), 0o600); err != nil {
		t.Fatal(err)
	}
	opts, err := server.ProcessConfigFile(path)
	if err != nil {
		t.Fatalf("nats-server refuses the configuration: %v", err)
	}
	byKey := map[string]*server.NkeyUser{}
	for _, nu := range opts.Nkeys {
		byKey[nu.Nkey] = nu
	}
	if len(byKey) != len(bus.Users()) {
		t.Fatalf("%d users in the configuration, want %d", len(byKey), len(bus.Users()))
	}
	for _, u := range bus.Users() {
		nu := byKey[pubs[u]]
		if nu == nil {
			t.Errorf("user %s is not in the configuration", u)
			continue
		}
		want := bus.UserAccess()[u].Permissions(u)
		got := bus.Permissions{Publish: nu.Permissions.Publish.Allow, Subscribe: nu.Permissions.Subscribe.Allow, Responses: nu.Permissions.Response != nil}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("user %s: configuration gives %+v, the embedded server %+v", u, got, want)
		}
	}
}
