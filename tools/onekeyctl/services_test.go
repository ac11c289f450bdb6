package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/onekey-oss/onekey/api/catalog"
	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/services/gateway/gateway"
)

// services runs auth (answering the operator's key requests, syncing and
// relaying keys) and a gateway in front of a fake OpenAI, each as its own
// bus user, and serves auth's account API; they stop when the test ends.
// It returns the gateway's and the account API's base URLs.
func (s *stack) services() (gatewayURL, authURL string) {
	s.t.Helper()
	s.start("auth", s.auth.Run)
	api := httptest.NewServer(s.auth.Handler())
	s.t.Cleanup(api.Close)

	upstream := httptest.NewServer(http.HandlerFunc(fakeOpenAI))
	s.t.Cleanup(upstream.Close)
	gw, err := gateway.New(gateway.Config{Addr: "127.0.0.1:0", OutboxDir: s.t.TempDir(),
		Channels: []gateway.ChannelConfig{{Name: "fake-openai", Provider: catalog.OpenAI, BaseURL: upstream.URL + "/v1", APIKey: "sk-upstream", Weight: 1}}},
		gateway.Deps{Bus: s.nats.ConnectAs(s.t, bus.UserGateway)})
	if err != nil {
		s.t.Fatal(err)
	}
	s.start("gateway", gw.Run)
	deadline := time.Now().Add(30 * time.Second)
	for !gw.Ready() {
		if time.Now().After(deadline) {
			s.t.Fatal("gateway not ready within 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return "http://" + gw.Addr(), api.URL
}

// start runs a service until the test ends.
func (s *stack) start(name string, run func(context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	s.t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) {
				s.t.Errorf("%s: %v", name, err)
			}
		case <-time.After(30 * time.Second):
			s.t.Errorf("%s did not stop within 30s", name)
		}
	})
}

// fakeOpenAI answers a chat completion as OpenAI's API does, with usage.
func fakeOpenAI(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"id":"chatcmpl-1","object":"chat.completion","created":1764547200,"model":"gpt-5-mini",`+
		`"choices":[{"index":0,"message":{"role":"assistant","content":"hello"},"finish_reason":"stop"}],`+
		`"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}`)
}

// chat sends one chat completion with key and returns the status and the
// OpenAI error code, if any.
func chat(gatewayURL, key string) (int, string, error) {
	req, err := http.NewRequest(http.MethodPost, gatewayURL+"/v1/chat/completions",
		strings.NewReader(`{"model":"gpt-5-mini","messages":[{"role":"user","content":"hi"}]}`))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var e struct {
		Error *struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	raw, _ := io.ReadAll(resp.Body)
	if json.Unmarshal(raw, &e) == nil && e.Error != nil {
		return resp.StatusCode, e.Error.Code, nil
	}
	return resp.StatusCode, "", nil
}

// userAPI is the account API as the account's user, signed in.
type userAPI struct {
	s      *stack
	url    string
	cookie *http.Cookie
	csrf   string
}

func (s *stack) signIn(authURL, accountID string) *userAPI {
	s.t.Helper()
	ck, err := s.auth.SeedSession(context.Background(), accountID)
	if err != nil {
		s.t.Fatal(err)
	}
	u := &userAPI{s: s, url: authURL, cookie: ck}
	var me struct {
		CSRF string `json:"csrf_token"`
	}
	status, body := u.do(http.MethodGet, "/api/me", "")
	if status != http.StatusOK || json.Unmarshal(body, &me) != nil {
		s.t.Fatalf("GET /api/me: %d %s", status, body)
	}
	u.csrf = me.CSRF
	return u
}

// do sends a request as the signed-in browser (cookie, Origin, CSRF token).
func (u *userAPI) do(method, path, body string) (int, []byte) {
	u.s.t.Helper()
	req, err := http.NewRequest(method, u.url+path, strings.NewReader(body))
	if err != nil {
		u.s.t.Fatal(err)
	}
	req.AddCookie(u.cookie)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if method != http.MethodGet {
		req.Header.Set("Origin", "http://127.0.0.1") // the harness's AUTH_PUBLIC_URL
		req.Header.Set("X-CSRF-Token", u.csrf)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		u.s.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw
}
