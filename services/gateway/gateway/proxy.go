package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptrace"
	"time"

	"github.com/onekey-oss/onekey/api/catalog"
	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/services/gateway/internal/channel"
	"github.com/onekey-oss/onekey/services/gateway/internal/credit"
	"github.com/onekey-oss/onekey/services/gateway/internal/reqbody"
)

// proxy is the hot path shared by every forwarding endpoint.
func (s *Service) proxy(w http.ResponseWriter, r *http.Request, a clientAPI) {
	start := time.Now()
	// Run waits for this handler: its upstream exchange may outlive the
	// client, and its settlement follows.
	s.finishing.Add(1)
	defer s.finishing.Done()
	spec := a.spec()
	shape := spec.shape
	key, aerr := s.authenticate(r)
	if aerr != nil {
		writeError(w, shape, aerr)
		return
	}
	if !spec.billed {
		// Free to the caller, not to the operator's provider quota.
		if ok, wait := s.counts.Allow(key.KeyID, s.cfg.CountTokensRPM); !ok {
			writeError(w, shape, &apiError{status: http.StatusTooManyRequests, typ: "requests", code: "rate_limit_exceeded", retryAfter: wait,
				message: fmt.Sprintf("Rate limit reached for count_tokens on this API key: %d requests per minute.", s.cfg.CountTokensRPM)})
			return
		}
	}
	body, held, aerr := s.readBody(w, r)
	defer s.releaseBody(&held)
	if aerr != nil {
		writeError(w, shape, aerr)
		return
	}
	info, err := reqbody.Peek(body)
	if err != nil {
		writeError(w, shape, errBadRequest("We could not parse the JSON body of your request: "+err.Error()))
		return
	}
	if info.Model == "" {
		writeError(w, shape, &apiError{status: http.StatusBadRequest, typ: "invalid_request_error", param: "model", code: "missing_required_parameter", message: "You must provide a model parameter."})
		return
	}
	m, ok := s.cat.Lookup(info.Model)
	if !ok {
		writeError(w, shape, s.unknownModel(info.Model))
		return
	}
	if aerr := a.accept(m); aerr != nil {
		writeError(w, shape, aerr)
		return
	}
	var declared catalog.Declared
	if spec.billed {
		if declared, aerr = checkCharges(spec, m, body); aerr != nil {
			writeError(w, shape, aerr)
			return
		}
	}
	if !s.chans.Has(m.Provider) {
		writeError(w, shape, errUnavailable("provider_unavailable", fmt.Sprintf("No upstream channel is configured for %s models.", m.Provider)))
		return
	}
	x := a.exchange(m)
	var prep preparation
	if p, ok := x.(preparer); ok {
		if prep, aerr = p.prepare(r.Context(), key, body, info, m); aerr != nil {
			writeError(w, shape, aerr)
			return
		}
	}
	var hold credit.Hold
	var plan holdPlan
	var bill *biller
	var limit int64
	if spec.billed {
		if s.out.Full() {
			writeError(w, shape, errUnavailable("billing_unavailable", "Usage cannot be recorded right now; try again shortly."))
			return
		}
		if ok, wait := s.limiter.Allow(key.KeyID, key.RPM); !ok {
			writeError(w, shape, &apiError{status: http.StatusTooManyRequests, typ: "requests", code: "rate_limit_exceeded", retryAfter: wait,
				message: fmt.Sprintf("Rate limit reached for this API key: %d requests per minute.", key.RPM)})
			return
		}
		plan = s.planHold(m, body, info, declared, prep.holdContext)
		hold, err = s.book.Admit(r.Context(), credit.Request{AccountID: key.AccountID, KeyID: key.KeyID, CapMicros: key.SpendCapMicros, Want: plan.want, Least: plan.least})
		switch {
		case errors.Is(err, credit.ErrSpendCap):
			writeError(w, shape, &apiError{status: http.StatusTooManyRequests, typ: "insufficient_quota", code: "spend_cap_reached", retryAfter: time.Minute,
				message: fmt.Sprintf("This API key has reached its spend cap of %s.", key.SpendCapMicros.Display())})
			return
		case errors.Is(err, credit.ErrUnavailable):
			writeError(w, shape, errUnavailable("billing_unavailable", "Credit cannot be checked right now; try again shortly."))
			return
		case err != nil:
			msg := fmt.Sprintf("Your credit balance is too low for this request (it may cost up to %s). Add credits, or lower max_tokens.", plan.least)
			if _, free := s.book.Available(key.AccountID); free > 0 && plan.least > s.cfg.FreeRequestMaxMicros {
				msg = fmt.Sprintf("Free requests cover requests that may cost up to %s; this one may cost up to %s, and your credit balance does not cover it. Add credits, or lower max_tokens.", s.cfg.FreeRequestMaxMicros, plan.least)
			}
			writeError(w, shape, &apiError{status: http.StatusPaymentRequired, typ: "insufficient_quota", code: "insufficient_credit", message: msg})
			return
		}
		if limit = s.outputLimit(m, plan, hold.Micros); limit > 0 {
			// The hold covers less than the model's maximum output: the
			// provider is told to stop where the hold ends.
			setMaxOutputHeader(w.Header(), limit)
		}
		bill = &biller{s: s, m: &m, declared: declared, free: hold.Free}
	}
	up, err := x.request(body, info, m, limit)
	if err != nil {
		s.book.Settle(hold, 0, false)
		if ae := (*apiError)(nil); errors.As(err, &ae) {
			writeError(w, shape, ae)
		} else {
			writeError(w, shape, errBadRequest(err.Error()))
		}
		return
	}
	// The body's bytes go back to the budget as soon as the provider has
	// them, not when a long answer ends.
	res := s.forward(w, r, spec.shape, x, m, newUpstreamBody(up, func() { s.releaseBody(&held) }), info, bill, prep.channel, start)
	s.meters.request(spec.name, string(m.Provider), res.status)
	if !spec.billed {
		return
	}
	// The response ends when this handler returns (for a stream, with its
	// closing chunk; on a kept-alive connection, the next request is read
	// only then): settle the hold and record the usage after that.
	rid := w.Header().Get("X-Request-Id")
	s.finishing.Go(func() { s.finish(key, hold, bill, plan.guess, info, res, start, rid) })
}

// result is what one forwarded request came to.
type result struct {
	reached   bool // an upstream answered with a status
	status    int
	channel   string
	usage     catalog.Usage
	haveUsage bool
	streamed  bool
	ttfb      time.Duration
	chunks    int64 // content events relayed, for estimates
	// aborted: the client left before the request was sent, or the
	// upstream's answer broke off before its end.
	aborted bool
	// sent: the request may have reached the provider (its body was
	// written), so it may have cost something even without an answer.
	sent bool
	// clientGone: the client left while the answer was read.
	clientGone bool
	// partial is the usage a stream reported before it broke off
	// (Anthropic's message_start), the floor of an estimate.
	partial *catalog.Usage
	// toolUses counts the server tools an Anthropic stream started.
	toolUses serverToolUses
	// charge is what the request was charged (charged: it was), set with
	// the provider's final usage by the exchange that read it.
	charge  charge
	charged bool
}

// forward sends body to the provider's channels in plan order and relays
// the answer of the first one that did the work.
//
// Once the request may have reached a provider (its body was written), the
// exchange no longer depends on the client: it runs under the service's
// lifetime and the upstream timeouts, the answer is read to its end for the
// provider's usage whether the client stays or not, and the request is never
// sent again. It moves on to the next channel only when the provider provably
// did no work: the connection failed before the request was written, or the
// provider answered 429 or its own overload error (503, Anthropic's 529).
//
// pin, when set, names the only channel the request may go to.
func (s *Service) forward(w http.ResponseWriter, r *http.Request, shape errorShape, x exchange, m catalog.Model, body *upstreamBody, info reqbody.Info, bill *biller, pin string, start time.Time) result {
	plan := s.chans.Plan(m.Provider, 1+s.cfg.Retries, time.Now())
	if pin != "" {
		plan = pinned(plan, pin)
	}
	var lastErr error
	for i, ch := range plan {
		if i > 0 {
			// Jitter spreads retries so channels are not hit in lockstep.
			wait := time.Duration(25*i)*time.Millisecond + rand.N(50*time.Millisecond)
			select {
			case <-r.Context().Done():
			case <-time.After(wait):
			}
		}
		if r.Context().Err() != nil {
			// The client left before this attempt: nothing was sent.
			return result{aborted: true}
		}
		ctx, cancel := context.WithCancel(s.life)
		var tr sentTrace
		req, err := s.upstreamRequest(httptrace.WithClientTrace(ctx, tr.trace()), r, x, ch, body)
		if err != nil {
			cancel()
			lastErr = err
			break
		}
		resp, err := s.client.Do(req)
		if err != nil {
			cancel()
			ch.Failed(time.Now(), s.cfg.Cooldown)
			s.meters.upstreamFailure(ch.Name)
			if tr.sent.Load() {
				// The provider has the request and may be working on it
				// (a first-byte timeout, a connection lost after the write):
				// it is not sent again, and is billed its input estimate.
				s.log.Warn("upstream did not answer", "channel", ch.Name, "provider", m.Provider, "attempt", i+1, "err", redactErr(err))
				writeError(w, shape, &apiError{status: http.StatusBadGateway, typ: "server_error", code: "upstream_timeout",
					message: fmt.Sprintf("The %s upstream did not answer in time. The request may have been processed and is billed for its input; it was not retried.", m.Provider)})
				return result{sent: true, status: http.StatusBadGateway, channel: ch.Name}
			}
			s.log.Warn("upstream request failed", "channel", ch.Name, "provider", m.Provider, "attempt", i+1, "err", redactErr(err))
			lastErr = err
			continue
		}
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
			ch.Failed(time.Now(), s.cfg.Cooldown)
			s.meters.upstreamFailure(ch.Name)
			s.log.Warn("upstream refused", "channel", ch.Name, "provider", m.Provider, "attempt", i+1, "status", resp.StatusCode)
			if didNoWork(ch.Provider, resp.StatusCode) && i < len(plan)-1 {
				_, _ = io.CopyN(io.Discard, resp.Body, 64<<10)
				resp.Body.Close()
				cancel()
				continue
			}
		} else {
			ch.Succeeded()
		}
		// The provider has the whole request: the gateway's copy is no
		// longer needed while the answer is read.
		if tr.sent.Load() {
			body.release()
		}
		res := s.relay(w, shape, x, ch, resp, info, bill, cancel, start)
		res.sent = true
		cancel()
		return res
	}
	s.log.Warn("no upstream answered", "provider", m.Provider, "attempts", len(plan), "err", redactErr(lastErr))
	writeError(w, shape, &apiError{status: http.StatusBadGateway, typ: "server_error", code: "upstream_unavailable",
		message: fmt.Sprintf("The %s upstream could not be reached; try again.", m.Provider)})
	return result{status: http.StatusBadGateway}
}

// pinned keeps the attempts of plan on the channel named pin.
func pinned(plan []*channel.Channel, pin string) []*channel.Channel {
	out := plan[:0:0]
	for _, ch := range plan {
		if ch.Name == pin {
			out = append(out, ch)
		}
	}
	return out
}

// redactErr keeps an upstream error loggable: it names the failure, never
// a body.
func redactErr(err error) string {
	if err == nil {
		return ""
	}
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) && ue.Unwrap() != nil {
		return ue.Unwrap().Error()
	}
	return err.Error()
}

func (s *Service) upstreamRequest(ctx context.Context, r *http.Request, x exchange, ch *channel.Channel, body *upstreamBody) (*http.Request, error) {
	u := ch.BaseURL + versionedBase(ch.Provider) + x.path(r)
	rc, err := body.reader()
	if err != nil {
		return nil, fmt.Errorf("build upstream request for %s: %w", ch.Name, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, rc)
	if err != nil {
		return nil, fmt.Errorf("build upstream request for %s: %w", ch.Name, err)
	}
	req.ContentLength, req.GetBody = int64(body.size), body.reader
	h := req.Header
	h["Content-Type"] = []string{"application/json"}
	if a := r.Header.Get("Accept"); a != "" {
		h["Accept"] = []string{a}
	}
	x.dialect().header(h, r, ch)
	return req, nil
}

// finish settles the credit hold and hands the usage event to the outbox.
// It runs after the response has ended.
//
// Without the provider's usage: a request that reached the provider but got
// no answer (a first-byte timeout) is billed its input estimate; an answer
// that broke off is billed an estimate from what was read; both are marked
// estimated. Anything else (refused, an error status) costs nothing.
func (s *Service) finish(key events.APIKeyV1, hold credit.Hold, bill *biller, inEst int64, info reqbody.Info, res result, start time.Time, rid string) {
	m := *bill.m
	u, estimated := res.usage, false
	switch {
	case res.haveUsage:
	case res.sent && !res.reached:
		u, estimated = catalog.Usage{InputTokens: inEst}, true
	case !res.reached || res.status/100 != 2:
		s.book.Settle(hold, 0, false)
		return
	default:
		u, estimated = catalog.Usage{InputTokens: inEst, OutputTokens: max(res.chunks, 1)}, true
		if res.partial != nil {
			u = *res.partial
		}
	}
	c := res.charge
	if !res.charged {
		c = bill.charge(u)
	}
	u, cost := c.usage, c.micros
	s.book.Settle(hold, cost, true)
	s.meters.cost(string(m.Provider), m.ID, int64(cost))
	ev := events.UsageRecordedV1{
		V: 1, ID: rid, Time: start.UTC(), AccountID: key.AccountID, ProjectID: key.ProjectID, KeyID: key.KeyID,
		Model: m.ID, Provider: string(m.Provider), Channel: res.channel,
		InputTokens: u.InputTokens, CachedInputTokens: u.CachedInputTokens, CacheWriteTokens: u.CacheWriteTokens,
		OutputTokens: u.OutputTokens, ReasoningTokens: u.ReasoningTokens, CostMicros: cost,
		CacheWrite1hTokens: u.CacheWrite1hTokens, WebSearchRequests: u.WebSearchRequests, WebFetchRequests: u.WebFetchRequests,
		SearchSources: u.SearchSources, ServiceTier: u.ServiceTier, LongContext: m.LongContext(u),
		LatencyMS: time.Since(start).Milliseconds(), TTFBMS: res.ttfb.Milliseconds(), Streamed: info.Stream,
		Status: res.status, Estimated: estimated, Free: hold.Free, Replica: s.replica,
	}
	if err := s.out.Add(ev); err != nil {
		s.log.Error("usage event could not be queued", "request_id", rid, "err", err)
	}
}
