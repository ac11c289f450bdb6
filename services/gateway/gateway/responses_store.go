package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/pkg/bus"
)

// Stored responses (Config.ResponsesStore). The Responses API stores each
// response at the provider unless told store: false; a stored response can
// be fetched, deleted or continued (previous_response_id) by anyone holding
// the operator's provider key and its id. So the gateway keeps, per stored
// response, the account that created it (KV responses, ids only, expiring
// with the providers' retention) and answers any other account 404, as if
// the id did not exist.

// storeSetting is the variable named by the 400 that refuses stored
// responses while they are off.
const storeSetting = "GATEWAY_RESPONSES_STORE"

// errStoreOff is the answer to a request that needs stored responses while
// they are off.
func errStoreOff(param string) *apiError {
	return &apiError{status: http.StatusBadRequest, typ: "invalid_request_error", param: param, code: "stored_responses_disabled",
		message: "Stored responses are disabled on this gateway: it sends store: false to the provider, so there is no stored response to fetch, delete or continue. Send the whole conversation in `input`, or ask the operator to set " + storeSetting + "=true."}
}

func errNoResponse(id string) *apiError {
	return &apiError{status: http.StatusNotFound, typ: "invalid_request_error", code: "not_found",
		message: fmt.Sprintf("Response with id '%s' not found.", truncate(id, 100))}
}

// responseIDs are the ids the store keeps: KV keys allow no other bytes.
var responseIDs = regexp.MustCompile(`^[A-Za-z0-9_-]{1,200}$`)

// responseStore binds stored response ids to accounts. Safe for concurrent
// use; without Config.ResponsesStore it is off and holds nothing.
type responseStore struct {
	on      bool
	bus     *bus.Bus
	timeout time.Duration
	log     *slog.Logger
}

// buckets are the buckets the store binds to: KV responses when it is on.
// The gateway is not ready until it is bound (Service.Ready); a request
// still opens the bucket itself, bounded by the store's timeout.
func (st *responseStore) buckets() []string {
	if !st.on {
		return nil
	}
	return []string{events.BucketResponses}
}

func (st *responseStore) kv(ctx context.Context) (jetstream.KeyValue, error) {
	return st.bus.KV(ctx, events.BucketResponses)
}

// bind records that account created response id through channel.
func (st *responseStore) bind(ctx context.Context, id string, v events.StoredResponseV1) error {
	if !responseIDs.MatchString(id) {
		return fmt.Errorf("bind response: an id of %d bytes that is not a KV key", len(id))
	}
	ctx, cancel := context.WithTimeout(ctx, st.timeout)
	defer cancel()
	kv, err := st.kv(ctx)
	if err != nil {
		return fmt.Errorf("bind response: %w", err)
	}
	v.V = 1
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("bind response: %w", err)
	}
	// Create, not Put: an id is bound once, to the account that made it.
	if _, err := kv.Create(ctx, id, raw); err != nil {
		return fmt.Errorf("bind response: %w", err)
	}
	return nil
}

// owned returns the binding of id when account created it; ok false (and
// no error) when the id is unknown or another account's.
func (st *responseStore) owned(ctx context.Context, id, account string) (events.StoredResponseV1, bool, error) {
	if !responseIDs.MatchString(id) {
		return events.StoredResponseV1{}, false, nil
	}
	ctx, cancel := context.WithTimeout(ctx, st.timeout)
	defer cancel()
	kv, err := st.kv(ctx)
	if err != nil {
		return events.StoredResponseV1{}, false, fmt.Errorf("look up response: %w", err)
	}
	e, err := kv.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return events.StoredResponseV1{}, false, nil
	}
	if err != nil {
		return events.StoredResponseV1{}, false, fmt.Errorf("look up response: %w", err)
	}
	var v events.StoredResponseV1
	if err := json.Unmarshal(e.Value(), &v); err != nil {
		return events.StoredResponseV1{}, false, fmt.Errorf("look up response: %w", err)
	}
	return v, v.AccountID == account, nil
}

func (st *responseStore) forget(ctx context.Context, id string) error {
	ctx, cancel := context.WithTimeout(ctx, st.timeout)
	defer cancel()
	kv, err := st.kv(ctx)
	if err != nil {
		return fmt.Errorf("forget response: %w", err)
	}
	return kv.Delete(ctx, id)
}

// storedResponse serves GET and DELETE /v1/responses/{id} (and GET
// /v1/responses/{id}/input_items): passed through to the channel that
// stored the response, for the account that created it only. They cost
// nothing and are limited by the key's RPM.
func (s *Service) storedResponse(w http.ResponseWriter, r *http.Request) {
	s.finishing.Add(1)
	defer s.finishing.Done()
	key, aerr := s.authenticate(r)
	if aerr != nil {
		writeError(w, shapeOpenAI, aerr)
		return
	}
	id := r.PathValue("id")
	if !s.store.on {
		writeError(w, shapeOpenAI, errStoreOff(""))
		return
	}
	if ok, wait := s.limiter.Allow(key.KeyID, key.RPM); !ok {
		writeError(w, shapeOpenAI, &apiError{status: http.StatusTooManyRequests, typ: "requests", code: "rate_limit_exceeded", retryAfter: wait,
			message: fmt.Sprintf("Rate limit reached for this API key: %d requests per minute.", key.RPM)})
		return
	}
	b, ok, err := s.store.owned(r.Context(), id, key.AccountID)
	if err != nil {
		s.log.Warn("stored response lookup failed", "err", err)
		writeError(w, shapeOpenAI, errUnavailable("store_unavailable", "Stored responses cannot be looked up right now; try again shortly."))
		return
	}
	if !ok {
		writeError(w, shapeOpenAI, errNoResponse(id))
		return
	}
	ch := s.chans.Named(b.Channel)
	if ch == nil {
		writeError(w, shapeOpenAI, errUnavailable("provider_unavailable", "The channel that stored this response is no longer configured."))
		return
	}
	path := "/responses/" + id
	if strings.HasSuffix(r.URL.Path, "/input_items") {
		path += "/input_items"
	}
	u := ch.BaseURL + versionedBase(ch.Provider) + path
	if r.URL.RawQuery != "" {
		u += "?" + r.URL.RawQuery
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.FirstByteTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, r.Method, u, nil)
	if err != nil {
		writeError(w, shapeOpenAI, errBadRequest("The response id is not valid."))
		return
	}
	req.Header["Accept"] = []string{"application/json"}
	openAIDialect{}.header(req.Header, r, ch)
	resp, err := s.client.Do(req)
	if err != nil {
		s.log.Warn("stored response request failed", "channel", ch.Name, "err", redactErr(err))
		writeError(w, shapeOpenAI, &apiError{status: http.StatusBadGateway, typ: "server_error", code: "upstream_unavailable",
			message: fmt.Sprintf("The %s upstream could not be reached; try again.", ch.Provider)})
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, upstreamErrorLimit))
		writeError(w, shapeOpenAI, upstreamError(resp.StatusCode, raw))
		return
	}
	if r.Method == http.MethodDelete {
		if err := s.store.forget(context.WithoutCancel(r.Context()), id); err != nil {
			s.log.Warn("stored response binding not deleted; it expires with its TTL", "err", err)
		}
	}
	for _, k := range relayedHeaders {
		if v, ok := resp.Header[k]; ok {
			w.Header()[k] = v
		}
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}
