// Command bench measures the gateway's overhead against a bare
// net/http/httputil.ReverseProxy in front of the same fake upstream.
//
// In one run it starts an embedded NATS JetStream server, a fake upstream
// that answers OpenAI-style chat completions and Responses (plain and
// streamed, with usage), and, each in its own child process so its CPU time can be read
// from /proc, the gateway (real key view from KV, catalog, credit holds,
// usage published to JetStream) and a bare ReverseProxy. A load generator
// then measures, for each proxy and each mode (chat completions and the
// Responses API, each plain and streamed: modes.go): requests/s at
// -concurrency clients, p50/p99 latency, CPU time per request of the proxy
// process, and the p50/p99 latency added over calling the upstream
// directly, at one client.
//
//	go run ./tools/bench                # ~1 minute
//	go run ./tools/bench -duration 10s  # steadier figures
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/pkg/bus"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type options struct {
	role        string
	upstream    string
	natsURL     string
	creds       string
	dir         string
	duration    time.Duration
	concurrency int
	single      int
	modes       string
	cpuprofile  string
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	var o options
	fs.StringVar(&o.role, "role", "", "internal: run as a child process (gateway, bare, upstream or ledger)")
	fs.StringVar(&o.upstream, "upstream", "", "internal: upstream URL for a child proxy")
	fs.StringVar(&o.natsURL, "nats", "", "internal: NATS URL for the gateway child")
	fs.StringVar(&o.creds, "creds", "", "internal: the bus users' credentials folder (<user>.nk) for a child")
	fs.StringVar(&o.dir, "dir", "", "internal: data dir for the gateway child")
	fs.StringVar(&o.cpuprofile, "cpuprofile", "", "write the gateway child's CPU profile of the run to this file (with .plain/.stream added)")
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "how long each throughput measurement runs")
	fs.IntVar(&o.concurrency, "concurrency", 50, "concurrent clients for the throughput measurement")
	fs.IntVar(&o.single, "single", 2000, "requests per added-latency measurement at one client")
	fs.StringVar(&o.modes, "modes", "", "comma-separated modes to measure (plain, stream, responses, resp-stream); empty: all")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch o.role {
	case "gateway":
		return runGateway(ctx, o)
	case "bare":
		return runBare(ctx, o)
	case "upstream":
		return serveChild(ctx, upstreamHandler())
	case "ledger":
		return runLedger(ctx, o)
	case "":
		return runBench(ctx, o, out)
	}
	return fmt.Errorf("unknown role %q", o.role)
}

// ---- the fake upstream ----

const streamChunks = 8

func upstreamHandler() http.Handler {
	plain := []byte(`{"id":"chatcmpl-bench","object":"chat.completion","created":1741569952,"model":"gpt-5-mini-2025-08-07","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! This is a fixed reply of a plausible length from the benchmark's fake upstream, which answers every request the same way.","refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":42,"completion_tokens":30,"total_tokens":72,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},"service_tier":"default","system_fingerprint":null}`)
	chunk := []byte("data: {\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1741569952,\"model\":\"gpt-5-mini-2025-08-07\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"word \"},\"logprobs\":null,\"finish_reason\":null}]}\n\n")
	usage := []byte("data: {\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1741569952,\"model\":\"gpt-5-mini-2025-08-07\",\"choices\":[],\"usage\":{\"prompt_tokens\":42,\"completion_tokens\":8,\"total_tokens\":50}}\n\n")
	done := []byte("data: [DONE]\n\n")
	responses := responsesUpstream()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if strings.HasSuffix(r.URL.Path, "/responses") {
			responses(w, body)
			return
		}
		if !strings.Contains(string(body), `"stream":true`) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Length", strconv.Itoa(len(plain)))
			_, _ = w.Write(plain)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fl := w.(http.Flusher)
		for range streamChunks {
			_, _ = w.Write(chunk)
			fl.Flush()
		}
		if strings.Contains(string(body), `"include_usage":true`) {
			_, _ = w.Write(usage)
		}
		_, _ = w.Write(done)
	})
}

// ---- the load generator ----

type sample struct {
	n        int
	dur      time.Duration
	lat      []time.Duration
	errs     int64
	cpu      time.Duration
	haveCPU  bool
	rest     time.Duration // CPU of this process: load generator and NATS server
	p50, p99 time.Duration
}

func (s *sample) finish() {
	slices.Sort(s.lat)
	if len(s.lat) > 0 {
		s.p50 = s.lat[len(s.lat)*50/100]
		s.p99 = s.lat[min(len(s.lat)*99/100, len(s.lat)-1)]
	}
}

func (s *sample) rps() float64 { return float64(s.n) / s.dur.Seconds() }

func (s *sample) cpuPerReq() time.Duration {
	if s.n == 0 {
		return 0
	}
	return s.cpu / time.Duration(s.n)
}

func newClient(conns int) *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConns: conns * 2, MaxIdleConnsPerHost: conns * 2, IdleConnTimeout: 90 * time.Second, DisableCompression: true}}
}

func do(c *http.Client, url, key, payload string) error {
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(payload))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("status %d", resp.StatusCode)
	}
	return err
}

// load runs conc clients for d against url and returns what they saw.
func load(ctx context.Context, url, key, payload string, conc int, d time.Duration, c *child) (*sample, error) {
	cl := newClient(conc)
	defer cl.CloseIdleConnections()
	// Warm up connections and caches.
	warm := time.Now().Add(d / 5)
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			for time.Now().Before(warm) && ctx.Err() == nil {
				_ = do(cl, url, key, payload)
			}
		})
	}
	wg.Wait()
	s := &sample{}
	var cpu0, self0 time.Duration
	if c != nil {
		cpu0, _ = c.cpu()
	}
	self0, _ = procCPU(os.Getpid())
	var mu sync.Mutex
	var errs atomic.Int64
	var firstErr atomic.Value
	start := time.Now()
	end := start.Add(d)
	for range conc {
		wg.Go(func() {
			var lat []time.Duration
			for ctx.Err() == nil {
				t0 := time.Now()
				if t0.After(end) {
					break
				}
				if err := do(cl, url, key, payload); err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			s.lat = append(s.lat, lat...)
			mu.Unlock()
		})
	}
	wg.Wait()
	s.dur = time.Since(start)
	if c != nil {
		cpu1, err := c.cpu()
		if err == nil {
			s.cpu, s.haveCPU = cpu1-cpu0, true
		}
	}
	if self1, err := procCPU(os.Getpid()); err == nil {
		s.rest = self1 - self0
	}
	s.n = len(s.lat)
	s.errs = errs.Load()
	s.finish()
	if s.errs > 0 {
		fmt.Fprintf(os.Stderr, "%d requests failed against %s, the first with %v\n", s.errs, url, firstErr.Load())
	}
	if s.n == 0 {
		return s, fmt.Errorf("no request succeeded against %s", url)
	}
	return s, ctx.Err()
}

// interleaved measures latency at one client against path of each of
// targets (base URLs): n rounds, each sending one request to every target, in an order
// that rotates from round to round, so that all targets see the same
// moments of a shared machine. Each target has its own kept-alive
// connection.
func interleaved(ctx context.Context, targets []string, path, key, payload string, n int) ([]*sample, error) {
	clients := make([]*http.Client, len(targets))
	out := make([]*sample, len(targets))
	for i := range targets {
		clients[i] = newClient(1)
		defer clients[i].CloseIdleConnections()
		out[i] = &sample{}
		for range 200 {
			_ = do(clients[i], targets[i]+path, key, payload)
		}
	}
	start := time.Now()
	for round := range n {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		for k := range targets {
			i := (round + k) % len(targets)
			t0 := time.Now()
			if err := do(clients[i], targets[i]+path, key, payload); err != nil {
				out[i].errs++
				continue
			}
			out[i].lat = append(out[i].lat, time.Since(t0))
		}
	}
	for i, s := range out {
		s.dur = time.Since(start)
		s.n = len(s.lat)
		if s.n == 0 {
			return nil, fmt.Errorf("no request succeeded against %s", targets[i])
		}
		s.finish()
	}
	return out, nil
}

func runBench(ctx context.Context, o options, out io.Writer) error {
	todo, err := selectModes(o.modes)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "onekey-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	// The bus users and their permissions are on, as in production: the
	// bench declares and seeds as the admin, each child connects as its
	// service's user.
	credsDir := filepath.Join(dir, "creds")
	creds, err := bus.LoadOrCreateCredentials(credsDir)
	if err != nil {
		return err
	}
	users, err := creds.PublicKeys()
	if err != nil {
		return err
	}
	ns, err := bus.StartEmbedded(bus.EmbeddedConfig{DataDir: filepath.Join(dir, "nats"), Users: users})
	if err != nil {
		return err
	}
	defer ns.Shutdown()
	b, err := bus.Connect(ctx, bus.Config{URL: ns.ClientURL(), Name: "bench", User: bus.UserAdmin, Seed: creds[bus.UserAdmin]})
	if err != nil {
		return err
	}
	defer b.Close()
	if err := b.Declare(ctx, bus.DefaultTopology()); err != nil {
		return err
	}
	// The real ledger grants the gateway its credit leases. It runs in a
	// process of its own at the lowest CPU priority: in production it runs
	// on other machines, and here it must not take the CPU the proxies are
	// measured with (it applies the usage events mostly after each phase).
	led, err := startChild(ctx, "-role", "ledger", "-nats", ns.ClientURL(), "-creds", credsDir, "-dir", filepath.Join(dir, "ledger"))
	if err != nil {
		return err
	}
	defer led.stop()
	key, err := seedAccount(ctx, b)
	if err != nil {
		return err
	}

	// The upstream runs in a process of its own, as a provider would: a
	// direct call then crosses a process boundary too, so the added latency
	// is the proxy hop's alone, not the cost of leaving the client's process.
	up, err := startChild(ctx, "-role", "upstream")
	if err != nil {
		return err
	}
	defer up.stop()
	upURL := "http://" + up.addr

	fmt.Fprintf(out, "onekey gateway vs bare httputil.ReverseProxy, same fake upstream; %d clients for %v each; %d requests per target at one client, interleaved (upstream directly, bare, gateway) for added latency; GOMAXPROCS of this machine: %d CPUs\n\n",
		o.concurrency, o.duration, o.single, numCPU())
	var rows []row
	for _, md := range todo {
		r, err := measure(ctx, o, md, upURL, ns.ClientURL(), dir, key, led)
		if err != nil {
			return err
		}
		rows = append(rows, r)
	}
	ms := func(d time.Duration) string { return fmt.Sprintf("%.3f ms", float64(d)/float64(time.Millisecond)) }
	us := func(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond)) }
	fmt.Fprintf(out, "%-11s %-8s %10s %10s %10s %12s %14s %14s %7s %16s\n", "mode", "proxy", "req/s", "p50", "p99", "CPU/req", "added p50 @1", "added p99 @1", "errors", "rest CPU/req")
	for _, r := range rows {
		for _, p := range []struct {
			name  string
			s, s1 *sample
		}{{"bare", r.bare, r.bare1}, {"gateway", r.gw, r.gw1}} {
			fmt.Fprintf(out, "%-11s %-8s %10.0f %10s %10s %12s %14s %14s %7d %16s\n", r.name, p.name, p.s.rps(), ms(p.s.p50), ms(p.s.p99), us(p.s.cpuPerReq()),
				ms(p.s1.p50-r.dir1.p50), ms(p.s1.p99-r.dir1.p99), p.s.errs+p.s1.errs, us(p.s.rest/time.Duration(max(p.s.n, 1))))
		}
		fmt.Fprintf(out, "%-11s upstream directly at 1 client: p50 %s, p99 %s\n", r.name, ms(r.dir1.p50), ms(r.dir1.p99))
		fmt.Fprintf(out, "%-11s gateway/bare: throughput %.2fx (goal >= 0.80), CPU per request %.2fx (goal <= 1.30), added p50 at 1 client %s (goal < 0.35 ms)\n\n",
			r.name, r.gw.rps()/r.bare.rps(), float64(r.gw.cpuPerReq())/float64(max(r.bare.cpuPerReq(), 1)), ms(r.gw1.p50-r.dir1.p50))
	}
	// Every gateway request was billed: its usage event is on the bus.
	st, err := b.JetStream().Stream(ctx, events.StreamUsage)
	if err == nil {
		time.Sleep(500 * time.Millisecond)
		if info, err := st.Info(ctx); err == nil {
			fmt.Fprintf(out, "usage events stored in JetStream: %d\n", info.State.Msgs)
		}
	}
	return nil
}

func numCPU() int {
	n := 0
	raw, err := os.ReadFile("/proc/cpuinfo")
	if err == nil {
		n = strings.Count(string(raw), "processor\t:")
	}
	return n
}

type row struct {
	name             string
	gw, bare         *sample
	gw1, bare1, dir1 *sample
}

// measure runs one mode against fresh proxy processes:
// Go's transport has been seen to break a streamed response on a
// connection kept from plain ones (ReverseProxy: "use of closed network
// connection"), and fresh processes give each mode the same start.
func measure(ctx context.Context, o options, md mode, upURL, natsURL, dir, key string, led *child) (row, error) {
	r := row{name: md.name}
	fmt.Fprintf(os.Stderr, "measuring %s...\n", r.name)
	payload := md.payload
	args := []string{"-role", "gateway", "-upstream", upURL, "-nats", natsURL, "-creds", filepath.Join(dir, "creds"), "-dir", filepath.Join(dir, r.name)}
	if o.cpuprofile != "" {
		args = append(args, "-cpuprofile", o.cpuprofile+"."+r.name)
	}
	gw, err := startChild(ctx, args...)
	if err != nil {
		return r, err
	}
	defer gw.stop()
	bare, err := startChild(ctx, "-role", "bare", "-upstream", upURL)
	if err != nil {
		return r, err
	}
	defer bare.stop()
	// The gateway's first request takes its credit lease from the ledger.
	if err := warmUp(ctx, "http://"+gw.addr+md.path, key, payload); err != nil {
		return r, err
	}
	// The ledger is paused (SIGSTOP) while each proxy is loaded: in
	// production it runs on other machines, and here its catching up
	// (and the NATS server's deliveries to it) would take the CPU the
	// proxies are measured with. The lease it granted stays valid
	// (GATEWAY_LEASE_VALIDITY is 30s); usage events wait in JetStream.
	if r.bare, err = paused(led, func() (*sample, error) {
		return load(ctx, "http://"+bare.addr+md.path, key, payload, o.concurrency, o.duration, bare)
	}); err != nil {
		return r, err
	}
	if r.gw, err = paused(led, func() (*sample, error) {
		return load(ctx, "http://"+gw.addr+md.path, key, payload, o.concurrency, o.duration, gw)
	}); err != nil {
		return r, err
	}
	one, err := interleaved(ctx, []string{upURL, "http://" + bare.addr, "http://" + gw.addr}, md.path, key, payload, o.single)
	if err != nil {
		return r, err
	}
	r.dir1, r.bare1, r.gw1 = one[0], one[1], one[2]
	return r, nil
}
