package stack

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"time"

	"github.com/onekey-oss/onekey/api/catalog"
	"github.com/onekey-oss/onekey/pkg/boot"
	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/pkg/httpx"
	"github.com/onekey-oss/onekey/services/gateway/demo"
	"github.com/onekey-oss/onekey/services/gateway/gateway"
)

// gatewayService builds the gateway on --gateway-addr, and pkg/boot's admin
// server for it on --gateway-admin-addr, with no database (DESIGN §1). Provider channels come from the environment (OPENAI_API_KEY,
// ANTHROPIC_API_KEY, GEMINI_API_KEY, XAI_API_KEY, their *_BASE_URL, and
// GATEWAY_CHANNELS_FILE). A provider with no channel is answered by the
// built-in DEMO UPSTREAM, a clearly labelled canned reply, so that the
// README's curl example and any OpenAI SDK work on a fresh machine.
func gatewayService(env *Env) (*runner, error) {
	b, err := env.ConnectAs(bus.UserGateway)
	if err != nil {
		return nil, err
	}
	chans, err := gateway.ChannelsFromEnv(env.Getenv)
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	have := map[catalog.Provider]bool{}
	for _, c := range chans {
		have[c.Provider] = true
	}
	var demoSrv *http.Server
	var demoStart func() error
	var demoFor []catalog.Provider
	for _, p := range []catalog.Provider{catalog.OpenAI, catalog.Anthropic, catalog.Google, catalog.XAI} {
		if !have[p] {
			demoFor = append(demoFor, p)
		}
	}
	if len(demoFor) > 0 {
		ln, err := httpx.Listen("127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("gateway demo upstream: %w", err)
		}
		demoSrv = httpx.NewServer(demo.Handler(), httpx.ServerConfig{})
		demoStart = func() error { return demoSrv.Serve(ln) }
		base := "http://" + ln.Addr().String()
		for _, p := range demoFor {
			url := base + "/v1"
			if p == catalog.Anthropic {
				url = base // Anthropic's base URL has no version path
			}
			chans = append(chans, gateway.ChannelConfig{Name: "demo-" + string(p), Provider: p, BaseURL: url, APIKey: "demo", Weight: 1})
		}
		fmt.Fprintf(env.Out, "gateway: no API key for %v, so those models answer from the built-in DEMO UPSTREAM (canned replies, not real models)\n", demoFor)
	}
	cfg := gateway.Config{
		Addr:      env.Config.GatewayAddr,
		Channels:  chans,
		OutboxDir: filepath.Join(env.Config.DataDir, "gateway-outbox"),
	}
	cfg.CatalogFile = env.Getenv("GATEWAY_CATALOG_FILE")
	svc, err := gateway.New(cfg, gateway.Deps{Bus: b, Logger: env.Telemetry.Logger.With("part", "gateway"), MeterProvider: env.Telemetry.MeterProvider})
	if err != nil {
		return nil, err
	}
	addr := svc.Addr()
	var admin *boot.Admin
	if a := env.Config.GatewayAdminAddr; a != "" {
		// /metrics holds every devstack service's metrics (one registry).
		if admin, err = boot.ServeAdmin(a, env.Telemetry.MetricsHandler(), env.Telemetry.Logger); err != nil {
			return nil, fmt.Errorf("gateway: %w", err)
		}
		addr += " (metrics: http://" + admin.Addr() + "/metrics)"
	}
	run := func(ctx context.Context) error {
		if admin != nil {
			admin.SetReady(svc.Ready)
			defer func() {
				sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
				defer cancel()
				_ = admin.Close(sctx)
			}()
		}
		if demoSrv != nil {
			errc := make(chan error, 1)
			go func() { errc <- demoStart() }()
			defer func() {
				sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
				defer cancel()
				_ = demoSrv.Shutdown(sctx)
				if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
					env.Telemetry.Logger.Warn("gateway demo upstream", "err", err)
				}
			}()
		}
		return svc.Run(ctx)
	}
	return &runner{name: "gateway", addr: addr, run: run}, nil
}
