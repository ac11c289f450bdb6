package bus

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// EmbeddedConfig configures an in-process NATS server with JetStream.
type EmbeddedConfig struct {
	// DataDir holds JetStream's file store. Required: a restart on the same
	// directory keeps every stream, consumer position and KV value.
	DataDir string
	// Host and Port to listen on. Host defaults to 127.0.0.1; Port 0 picks a
	// free port.
	Host string
	Port int
	// Logger receives the server's warnings and errors (nil: discarded).
	Logger *slog.Logger
	// ReadyTimeout bounds the wait for the server to take connections
	// (default 30 s: a loaded CI machine can be slow).
	ReadyTimeout time.Duration
	// Users maps each bus user to its public nkey; the server then admits
	// only them, each with its permissions from UserAccess. Empty: no
	// authentication (anyone may do anything).
	Users map[string]string
	// Cluster, when set, makes this server one node of a JetStream cluster
	// (tests of node failures: bustest.StartCluster). Nil: a single node.
	Cluster *EmbeddedCluster
	// SyncAlways makes JetStream fsync every write before it acks it
	// (nats-server's `sync_interval: always`); false syncs every two
	// minutes (the server's default), which a process crash does not
	// harm but an OS crash or power loss can.
	SyncAlways bool
}

// EmbeddedCluster makes an embedded server one node of a cluster. Every
// node has the same Name and Routes, and a ServerName of its own that it
// keeps across restarts (JetStream's peers are known by it).
type EmbeddedCluster struct {
	Name       string
	ServerName string
	// Port takes the other nodes' routes (0: a free port; a restart must
	// pass the port it had).
	Port int
	// Routes are every node's route URL ("nats-route://127.0.0.1:6222"),
	// this node's own included (a server skips itself).
	Routes []string
}

// Embedded is a running in-process nats-server. It is what devstack and the
// tests use instead of a NATS cluster; the services connect to it by URL,
// exactly as they would to the cluster.
type Embedded struct {
	srv         *server.Server
	port        int
	clusterPort int
}

// StartEmbedded starts nats-server with JetStream and waits until it takes
// connections.
func StartEmbedded(cfg EmbeddedConfig) (*Embedded, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("embedded nats: DataDir is required")
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("embedded nats: create data dir: %w", err)
	}
	host := cfg.Host
	if host == "" {
		host = "127.0.0.1"
	}
	port := cfg.Port
	if port == 0 {
		// The server binds a free port itself: choosing one here and
		// binding it later races with other processes on a busy machine.
		port = server.RANDOM_PORT
	}
	ready := cfg.ReadyTimeout
	if ready <= 0 {
		ready = 30 * time.Second
	}
	opts := &server.Options{
		ServerName: "onekey-embedded",
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   filepath.Clean(cfg.DataDir),
		NoSigs:     true,
		// No HTTP monitoring; a single node unless cfg.Cluster says otherwise.
		HTTPPort: 0,
		// A restart must be able to reuse the port at once.
		DisableShortFirstPing: true,
		SyncAlways:            cfg.SyncAlways,
	}
	if c := cfg.Cluster; c != nil {
		if c.Name == "" || c.ServerName == "" {
			return nil, errors.New("embedded nats: a cluster node needs a cluster name and a server name")
		}
		opts.ServerName = c.ServerName
		opts.Cluster = server.ClusterOpts{Name: c.Name, Host: host, Port: cmp.Or(c.Port, server.RANDOM_PORT)}
		opts.Routes = server.RoutesFromStr(strings.Join(c.Routes, ","))
	}
	for _, u := range slices.Sorted(maps.Keys(cfg.Users)) {
		access, ok := UserAccess()[u]
		if !ok {
			return nil, fmt.Errorf("embedded nats: unknown bus user %q", u)
		}
		opts.Nkeys = append(opts.Nkeys, &server.NkeyUser{Nkey: cfg.Users[u], Permissions: serverPermissions(access.Permissions(u))})
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	if cfg.Logger != nil {
		srv.SetLoggerV2(slogAdapter{cfg.Logger}, false, false, false)
	}
	srv.Start()
	if !srv.ReadyForConnections(ready) {
		srv.Shutdown()
		return nil, fmt.Errorf("embedded nats: not ready after %s (is %s:%d free?)", ready, host, cfg.Port)
	}
	e := &Embedded{srv: srv, port: srv.Addr().(*net.TCPAddr).Port}
	if a := srv.ClusterAddr(); a != nil {
		e.clusterPort = a.Port
	}
	return e, nil
}

// serverPermissions is p as nats-server's options say it.
func serverPermissions(p Permissions) *server.Permissions {
	sp := &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: p.Publish},
		Subscribe: &server.SubjectPermission{Allow: p.Subscribe},
	}
	if p.Responses {
		sp.Response = &server.ResponsePermission{MaxMsgs: 1, Expires: responseTTL}
	}
	return sp
}

// responseTTL is how long a server may answer a request it received.
const responseTTL = time.Minute

// ClientURL is the nats:// URL clients connect to.
func (e *Embedded) ClientURL() string { return e.srv.ClientURL() }

// Port is the TCP port the server listens on, so a restart can reuse it.
func (e *Embedded) Port() int { return e.port }

// ClusterPort is the port a cluster node takes routes on (0: not a
// cluster node).
func (e *Embedded) ClusterPort() int { return e.clusterPort }

// Name is the server's name (a cluster node's ServerName).
func (e *Embedded) Name() string { return e.srv.Name() }

// Shutdown stops the server and waits until it has stopped. JetStream data
// is flushed to the data dir.
func (e *Embedded) Shutdown() {
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
}

// slogAdapter routes nats-server's logger into slog. Notices are debug:
// the server is chatty at start-up.
type slogAdapter struct{ l *slog.Logger }

func (a slogAdapter) Noticef(format string, v ...any) { a.l.Debug(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Warnf(format string, v ...any)   { a.l.Warn(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Fatalf(format string, v ...any)  { a.l.Error(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Errorf(format string, v ...any)  { a.l.Error(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Debugf(format string, v ...any)  { a.l.Debug(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Tracef(format string, v ...any)  {}
