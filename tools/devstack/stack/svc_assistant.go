package stack

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/onekey-oss/onekey/pkg/config"
	"github.com/onekey-oss/onekey/pkg/httpx"
	"github.com/onekey-oss/onekey/services/auth/auth"
	"github.com/onekey-oss/onekey/services/gateway/demo"
)

// assistantConfig is the dashboard assistant's configuration: from the
// environment when ASSISTANT_ANTHROPIC_API_KEY is set, otherwise against
// the built-in, labelled DEMO UPSTREAM (a scripted tool-use exchange), so
// the panel can be tried on a fresh machine. In the demo case it also
// returns how to run auth with the demo upstream served beside it.
func assistantConfig(env *Env) (auth.AssistantConfig, func(ctx context.Context, run func(context.Context) error) error, error) {
	if env.Getenv("ASSISTANT_ANTHROPIC_API_KEY") != "" {
		r := config.NewReader(env.Getenv)
		c := auth.AssistantConfig{
			APIKey:           r.String("ASSISTANT_ANTHROPIC_API_KEY", ""),
			BaseURL:          r.String("ASSISTANT_ANTHROPIC_BASE_URL", auth.DefaultAssistantBaseURL),
			Model:            r.String("ASSISTANT_MODEL", auth.DefaultAssistantModel),
			QuestionsPerHour: r.Int("ASSISTANT_QUESTIONS_PER_HOUR", auth.DefaultAssistantPerHour),
			DailyCap:         r.Money("ASSISTANT_DAILY_CAP_USD", auth.DefaultAssistantDailyCap),
			MaxTokens:        r.Int64("ASSISTANT_MAX_TOKENS", auth.DefaultAssistantMaxTokens),
		}
		return c, nil, r.Err()
	}
	ln, err := httpx.Listen("127.0.0.1:0")
	if err != nil {
		return auth.AssistantConfig{}, nil, fmt.Errorf("assistant demo upstream: %w", err)
	}
	srv := httpx.NewServer(demo.Handler(), httpx.ServerConfig{})
	fmt.Fprintln(env.Out, "assistant: no ASSISTANT_ANTHROPIC_API_KEY, so the dashboard's assistant answers from the built-in DEMO UPSTREAM (a scripted tool-use exchange, not a real model)")
	run := func(ctx context.Context, svc func(context.Context) error) error {
		errc := make(chan error, 1)
		go func() { errc <- srv.Serve(ln) }()
		defer func() {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
			if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
				env.Telemetry.Logger.Warn("assistant demo upstream", "err", err)
			}
		}()
		return svc(ctx)
	}
	return auth.AssistantConfig{APIKey: "demo", BaseURL: "http://" + ln.Addr().String()}, run, nil
}
