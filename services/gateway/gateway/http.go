package gateway

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/onekey-oss/onekey/api/apikey"
	"github.com/onekey-oss/onekey/api/catalog"
	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/pkg/boot"
)

// routes is the public API. It has no /metrics: that is on the admin
// listener only.
func (s *Service) routes() http.Handler {
	mux := http.NewServeMux()
	// The probes answer here as on main's admin server (pkg/boot), so
	// probes and load balancers can stay on the public port.
	boot.Probes(mux, s.Ready)
	mux.HandleFunc("GET /v1/models", s.listModels)
	mux.HandleFunc("GET /v1/models/{id...}", s.getModel)
	mux.HandleFunc("GET /v1/credits", s.credits)
	mux.Handle("/v1/generation", s.generationHandler()) // every method: it answers 405 itself
	apis := s.clientAPIs()
	for _, p := range []string{"GET /v1/responses/{id}", "DELETE /v1/responses/{id}", "GET /v1/responses/{id}/input_items"} {
		mux.HandleFunc(p, s.storedResponse)
	}
	for _, a := range apis {
		mux.HandleFunc("POST "+a.spec().path, func(w http.ResponseWriter, r *http.Request) { s.proxy(w, r, a) })
	}
	// Other methods on the API's paths get a 405 in the API's own error
	// shape rather than the mux's plain-text one.
	type route struct {
		path  string
		shape errorShape
	}
	routes := []route{{"/v1/models", shapeOpenAI}, {"/v1/models/{id...}", shapeOpenAI}, {"/v1/credits", shapeOpenAI}}
	for _, a := range apis {
		routes = append(routes, route{a.spec().path, a.spec().shape})
	}
	for _, rt := range routes {
		mux.HandleFunc(rt.path, func(w http.ResponseWriter, r *http.Request) {
			writeError(w, rt.shape, &apiError{status: http.StatusMethodNotAllowed, typ: "invalid_request_error", code: "method_not_allowed",
				message: fmt.Sprintf("%s is not allowed on %s.", r.Method, r.URL.Path)})
		})
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		// An unknown path under an API's path is answered in its shape.
		shape, longest := shapeOpenAI, 0
		for _, a := range apis {
			if sp := a.spec(); strings.HasPrefix(r.URL.Path, sp.path) && len(sp.path) > longest {
				shape, longest = sp.shape, len(sp.path)
			}
		}
		writeError(w, shape, errNotFound(fmt.Sprintf("Unknown request URL: %s %s.", r.Method, r.URL.Path)))
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Every response carries the request id, errors included.
		w.Header()["X-Request-Id"] = []string{newRequestID()}
		mux.ServeHTTP(w, r)
	})
}

// authenticate finds the caller's key: "Authorization: Bearer <key>" (the
// OpenAI SDKs, ANTHROPIC_AUTH_TOKEN) or "x-api-key" (the Anthropic SDKs).
func (s *Service) authenticate(r *http.Request) (events.APIKeyV1, *apiError) {
	key := r.Header.Get("X-Api-Key")
	if key == "" {
		auth := r.Header.Get("Authorization")
		if len(auth) > 7 && strings.EqualFold(auth[:7], "bearer ") {
			key = strings.TrimSpace(auth[7:])
		}
	}
	if key == "" {
		return events.APIKeyV1{}, errUnauthorized("You didn't provide an API key. Send it as \"Authorization: Bearer <key>\" or \"x-api-key: <key>\".")
	}
	if apikey.Check(key) != nil {
		return events.APIKeyV1{}, errUnauthorized("Incorrect API key provided: " + apikey.Display(key) + "…")
	}
	k, ok := s.keys.Get(apikey.Hash(key))
	if !ok {
		select {
		case <-s.keys.Ready():
		default:
			return events.APIKeyV1{}, errUnavailable("not_ready", "The gateway is starting; try again in a moment.")
		}
		return events.APIKeyV1{}, errUnauthorized("Incorrect API key provided: " + apikey.Display(key) + "…")
	}
	if k.Status == events.KeySuspended {
		return events.APIKeyV1{}, errKeySuspended()
	}
	if !k.Active(time.Now()) {
		return events.APIKeyV1{}, errUnauthorized("This API key has been revoked or has expired.")
	}
	return k, nil
}

// authenticateIfSent checks the request's key when it has one.
func (s *Service) authenticateIfSent(r *http.Request) *apiError {
	if r.Header.Get("X-Api-Key") == "" && r.Header.Get("Authorization") == "" {
		return nil
	}
	_, aerr := s.authenticate(r)
	return aerr
}

// modelObject is a model in OpenAI's list format, with onekey's additions.
type modelObject struct {
	ID            string       `json:"id"`
	Object        string       `json:"object"`
	Created       int64        `json:"created"`
	OwnedBy       string       `json:"owned_by"`
	Name          string       `json:"name"`
	Provider      string       `json:"provider"`
	Kind          string       `json:"kind"`
	ContextLength int          `json:"context_length"`
	MaxOutput     int          `json:"max_output_tokens,omitempty"`
	Pricing       modelPricing `json:"pricing"`
	Aliases       []string     `json:"aliases,omitempty"`
}

// modelPricing is in micro-USD per million tokens.
type modelPricing struct {
	Input       int64 `json:"input"`
	CachedInput int64 `json:"cached_input"`
	Output      int64 `json:"output"`
	CacheWrite  int64 `json:"cache_write,omitempty"`
}

func (s *Service) modelObject(m catalog.Model) modelObject {
	cached := m.Pricing.CachedInput
	if cached == 0 {
		cached = m.Pricing.Input
	}
	mk := func(p money.PerMillion) int64 {
		// Listed prices include the markup, as the customer pays them.
		return int64(money.ApplyMarkup(money.Micros(p), s.cfg.MarkupBasisPoints))
	}
	return modelObject{
		ID: m.ID, Object: "model", Created: m.Created, OwnedBy: string(m.Provider), Name: m.Name,
		Provider: string(m.Provider), Kind: string(m.Kind), ContextLength: m.ContextLength, MaxOutput: m.MaxOutputTokens,
		Pricing: modelPricing{Input: mk(m.Pricing.Input), CachedInput: mk(cached), Output: mk(m.Pricing.Output), CacheWrite: mk(m.Pricing.CacheWrite)},
		Aliases: m.Aliases,
	}
}

// buildModels renders the model list once: the catalog never changes while
// the gateway runs.
func (s *Service) buildModels() error {
	list := s.cat.List()
	objs := make([]modelObject, 0, len(list))
	s.modelJSON = make(map[string][]byte, len(list))
	for _, m := range list {
		o := s.modelObject(m)
		objs = append(objs, o)
		raw, err := json.Marshal(o)
		if err != nil {
			return fmt.Errorf("render model %s: %w", m.ID, err)
		}
		s.modelJSON[m.ID] = append(raw, '\n')
	}
	raw, err := json.Marshal(struct {
		Object string        `json:"object"`
		Data   []modelObject `json:"data"`
	}{"list", objs})
	if err != nil {
		return fmt.Errorf("render model list: %w", err)
	}
	s.modelsJSON = append(raw, '\n')
	return nil
}

// The model list and each model, with prices, are public (the dashboard's
// assistant reads them without a key); a key that is sent is still
// checked, so a client with a wrong key learns it here too.
func (s *Service) listModels(w http.ResponseWriter, r *http.Request) {
	if aerr := s.authenticateIfSent(r); aerr != nil {
		writeError(w, shapeOpenAI, aerr)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(s.modelsJSON)
}

func (s *Service) getModel(w http.ResponseWriter, r *http.Request) {
	if aerr := s.authenticateIfSent(r); aerr != nil {
		writeError(w, shapeOpenAI, aerr)
		return
	}
	id := r.PathValue("id")
	m, ok := s.cat.Lookup(id)
	if !ok {
		writeError(w, shapeOpenAI, s.unknownModel(id))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(s.modelJSON[m.ID])
}

// unknownModel is the 404 for a model the catalog does not know, naming
// close matches.
func (s *Service) unknownModel(id string) *apiError {
	msg := fmt.Sprintf("The model `%s` does not exist or you do not have access to it.", truncate(id, 100))
	if sug := s.cat.Suggest(id, 3); len(sug) > 0 {
		msg += " Did you mean " + strings.Join(quoteAll(sug), ", ") + "?"
	}
	return &apiError{status: http.StatusNotFound, typ: "invalid_request_error", code: "model_not_found", param: "model", message: msg}
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = "`" + s + "`"
	}
	return out
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// creditsBody is GET /v1/credits.
type creditsBody struct {
	Object           string `json:"object"`
	AccountID        string `json:"account_id"`
	BalanceMicros    int64  `json:"balance_micros"`
	AvailableMicros  int64  `json:"available_micros"`
	FreeRequestsLeft int64  `json:"free_requests_left"`
	KeySpendMicros   int64  `json:"key_spend_micros"`
	SpendCapMicros   int64  `json:"spend_cap_micros,omitempty"`
	RPM              int    `json:"rpm_limit,omitempty"`
}

func (s *Service) credits(w http.ResponseWriter, r *http.Request) {
	k, aerr := s.authenticate(r)
	if aerr != nil {
		writeError(w, shapeOpenAI, aerr)
		return
	}
	bal, _ := s.bals.Get(k.AccountID)
	avail, free := s.book.Available(k.AccountID)
	raw, _ := json.Marshal(creditsBody{
		Object: "credits", AccountID: k.AccountID, BalanceMicros: int64(bal.BalanceMicros), AvailableMicros: int64(avail),
		FreeRequestsLeft: free, KeySpendMicros: int64(bal.KeySpendMicros[k.KeyID]), SpendCapMicros: int64(k.SpendCapMicros), RPM: k.RPM,
	})
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(append(raw, '\n'))
}
