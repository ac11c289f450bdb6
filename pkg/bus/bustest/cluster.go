package bustest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/onekey-oss/onekey/pkg/bus"
)

// Cluster is n embedded NATS servers clustered on loopback, as production
// runs NATS: JetStream on each node's own store (a temp dir), every bus
// user with its permissions on every node, clients given every node's URL.
// A node can be killed (its server shut down) and restarted on the same
// ports and store, as a crashed and restarted NATS node would be. The
// topology is not declared: Declare does it as the admin, with the
// replicas the test asks for.
type Cluster struct {
	creds bus.Credentials
	users map[string]string
	files string
	log   *slog.Logger

	mu    sync.Mutex
	nodes []*node
}

// node is one server of a cluster; e is nil while it is killed.
type node struct {
	cfg bus.EmbeddedConfig
	e   *bus.Embedded
}

// ClusterName is the cluster's name on every node.
const ClusterName = "onekey-test"

// StartCluster starts n clustered nodes (3 for R3 streams) and shuts them
// down when the test ends. The nodes take connections at once; JetStream
// elects its meta leader a few seconds later (Declare waits for it).
func StartCluster(tb testing.TB, n int) *Cluster {
	tb.Helper()
	creds, err := bus.NewCredentials()
	if err != nil {
		tb.Fatal(err)
	}
	users, err := creds.PublicKeys()
	if err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	c := &Cluster{creds: creds, users: users, files: filepath.Join(dir, "creds"), log: violations(tb)}
	if err := creds.WriteFiles(c.files); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(c.shutdown)
	// A port chosen here may be taken by another process before its node
	// binds it: then the cluster starts again on other ports.
	for attempt := 1; ; attempt++ {
		err := c.start(filepath.Join(dir, fmt.Sprint("try", attempt)), n)
		if err == nil {
			return c
		}
		c.shutdown()
		if attempt == 3 {
			tb.Fatalf("start cluster: %v", err)
		}
		tb.Logf("start cluster: %v (trying other ports)", err)
	}
}

// start starts n nodes on fresh ports, each routing to every node (so each
// knows the cluster's size from the start).
func (c *Cluster) start(dir string, n int) error {
	// Every port is chosen before any node starts: a node's client port
	// chosen by its own server could be another node's route port.
	ports, err := freePorts(2 * n)
	if err != nil {
		return err
	}
	var routes []string
	for i := range n {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", ports[n+i]))
	}
	c.nodes = nil
	for i := range n {
		cfg := bus.EmbeddedConfig{
			DataDir:      filepath.Join(dir, fmt.Sprintf("n%d", i+1)),
			Port:         ports[i],
			Users:        c.users,
			Logger:       c.log,
			ReadyTimeout: 10 * time.Second,
			Cluster:      &bus.EmbeddedCluster{Name: ClusterName, ServerName: fmt.Sprintf("n%d", i+1), Port: ports[n+i], Routes: routes},
		}
		e, err := bus.StartEmbedded(cfg)
		if err != nil {
			return fmt.Errorf("node %d: %w", i+1, err)
		}
		c.nodes = append(c.nodes, &node{cfg: cfg, e: e})
	}
	return nil
}

// freePorts returns n loopback ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func (c *Cluster) shutdown() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.nodes {
		if n.e != nil {
			n.e.Shutdown()
			n.e = nil
		}
	}
}

// Size is the number of nodes.
func (c *Cluster) Size() int { return len(c.nodes) }

// URL is every node's client URL, comma-separated (NATS_URL of a service
// on the cluster). It stays valid across kills and restarts.
func (c *Cluster) URL() string {
	var urls []string
	for i := range c.nodes {
		urls = append(urls, c.NodeURL(i))
	}
	return strings.Join(urls, ",")
}

// NodeURL is node i's client URL (from 0).
func (c *Cluster) NodeURL(i int) string {
	return fmt.Sprintf("nats://127.0.0.1:%d", c.nodes[i].cfg.Port)
}

// NodeName is node i's server name, as JetStream names a stream's leader.
func (c *Cluster) NodeName(i int) string { return c.nodes[i].cfg.Cluster.ServerName }

// Kill shuts node i down, as a crash of that NATS node would look to its
// peers and clients (their connections drop; its store keeps what it
// wrote).
func (c *Cluster) Kill(i int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := c.nodes[i]; n.e != nil {
		n.e.Shutdown()
		n.e = nil
	}
}

// Restart starts a killed node i again on its ports and store.
func (c *Cluster) Restart(tb testing.TB, i int) {
	tb.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodes[i]
	if n.e != nil {
		tb.Fatalf("restart node %d: it is running", i+1)
	}
	e, err := bus.StartEmbedded(n.cfg)
	if err != nil {
		tb.Fatalf("restart node %d: %v", i+1, err)
	}
	n.e = e
}

// Declare declares t as the admin, as tools/busadmin declare does on a
// cluster: retrying while the cluster cannot take it yet (no meta leader
// elected, streams not placeable), for up to two minutes.
func (c *Cluster) Declare(tb testing.TB, t bus.Topology) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b := c.connect(tb, bus.UserAdmin, "declare")
	defer b.Close()
	var last error
	for ctx.Err() == nil {
		dctx, dcancel := context.WithTimeout(ctx, 5*time.Second)
		last = b.Declare(dctx, t)
		dcancel()
		if last == nil {
			return
		}
		tb.Logf("declare: %v (retrying)", last)
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
	tb.Fatalf("declare on the cluster: %v", last)
}

// Leader returns the index of the node that leads stream (a KV bucket's
// stream is "KV_<bucket>"), waiting up to a minute while it has none (an
// election in progress).
func (c *Cluster) Leader(tb testing.TB, b *bus.Bus, stream string) int {
	tb.Helper()
	deadline := time.Now().Add(time.Minute)
	var last error
	for time.Now().Before(deadline) {
		i, err := c.leader(b, stream)
		if err == nil {
			return i
		}
		last = err
		time.Sleep(100 * time.Millisecond)
	}
	tb.Fatalf("leader of %s: %v", stream, last)
	return -1
}

func (c *Cluster) leader(b *bus.Bus, stream string) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := b.JetStream().Stream(ctx, stream)
	if err != nil {
		return -1, err
	}
	info, err := st.Info(ctx)
	if err != nil {
		return -1, err
	}
	if info.Cluster == nil || info.Cluster.Leader == "" {
		return -1, errors.New("no leader")
	}
	for i := range c.nodes {
		if c.NodeName(i) == info.Cluster.Leader {
			return i, nil
		}
	}
	return -1, fmt.Errorf("leader %q is no node of this cluster", info.Cluster.Leader)
}

// CredsFile is the path of user's credentials file (for NATS_CREDS_FILE).
func (c *Cluster) CredsFile(user string) string { return bus.CredsFile(c.files, user) }

// Seed is user's nkey seed.
func (c *Cluster) Seed(user string) []byte { return c.creds[user] }

// Connect returns a client of the admin user on every node's URL (the
// test's own driver); closed at test end.
func (c *Cluster) Connect(tb testing.TB, name string) *bus.Bus {
	tb.Helper()
	b := c.connect(tb, bus.UserAdmin, name)
	tb.Cleanup(b.Close)
	return b
}

// ConnectAs returns a client of user (bus.UserGateway...) on every node's
// URL, with only that user's permissions; closed at test end.
func (c *Cluster) ConnectAs(tb testing.TB, user string) *bus.Bus {
	tb.Helper()
	b := c.connect(tb, user, user)
	tb.Cleanup(b.Close)
	return b
}

func (c *Cluster) connect(tb testing.TB, user, name string) *bus.Bus {
	tb.Helper()
	return dial(tb, c.URL(), c.creds, user, name)
}
