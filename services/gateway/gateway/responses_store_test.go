package gateway_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/param"
	"github.com/openai/openai-go/v3/responses"

	"github.com/onekey-oss/onekey/api/catalog"
	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/services/gateway/gateway"
)

func TestResponses_AStoredResponseIsFetchedDeletedAndContinuedByItsOwnAccountOnly(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withConfig(func(c *gateway.Config) { c.ResponsesStore = true }))
	h.serveResponses()
	owner := h.openai(h.key)
	otherKey, _, otherAccount, _ := h.newKey(events.APIKeyV1{})
	h.setBalance(otherAccount, 100*money.Dollar, 0)
	waitFor(t, time.Minute, "the other account's balance", func() bool { return h.credits(otherKey).BalanceMicros > 0 })
	other := h.openai(otherKey)
	ctx := context.Background()
	hello := responses.ResponseNewParamsInputUnion{OfString: param.NewOpt("Hello")}

	for _, model := range []string{"gpt-5-mini", "grok-4"} {
		t.Run(model, func(t *testing.T) {
			created, err := owner.Responses.New(ctx, responses.ResponseNewParams{Model: model, Input: hello})
			if err != nil {
				t.Fatal(err)
			}
			id := created.ID
			// Stored responses on: the client's store (absent: the
			// provider's default, true) goes upstream as it was.
			reqs := h.fakes[map[string]catalog.Provider{"gpt-5-mini": catalog.OpenAI, "grok-4": catalog.XAI}[model]].requests()
			if bytes.Contains(reqs[len(reqs)-1].Body, []byte(`"store"`)) {
				t.Errorf("store was rewritten: %s", reqs[len(reqs)-1].Body)
			}
			// Another account: 404 on every path, as if the id did not exist.
			_, err = other.Responses.Get(ctx, id, responses.ResponseGetParams{})
			wantAPIError(t, err, 404, "", id)
			err = other.Responses.Delete(ctx, id)
			wantAPIError(t, err, 404, "", id)
			_, err = other.Responses.New(ctx, responses.ResponseNewParams{Model: model, Input: hello, PreviousResponseID: param.NewOpt(id)})
			wantAPIError(t, err, 404, "previous_response_id", id)
			s := other.Responses.NewStreaming(ctx, responses.ResponseNewParams{Model: model, Input: hello, PreviousResponseID: param.NewOpt(id)})
			for s.Next() {
			}
			wantAPIError(t, s.Err(), 404, "previous_response_id", id)
			_, err = other.Responses.InputItems.List(ctx, id, responses.InputItemListParams{})
			wantAPIError(t, err, 404, "", id)
			// Its owner: fetched, its input listed, continued.
			got, err := owner.Responses.Get(ctx, id, responses.ResponseGetParams{})
			if err != nil || got.ID != id {
				t.Fatalf("owner's GET: %v", err)
			}
			items, err := owner.Responses.InputItems.List(ctx, id, responses.InputItemListParams{})
			if err != nil || len(items.Data) != 1 {
				t.Fatalf("owner's input items: %v", err)
			}
			var raw *http.Response
			cont, err := owner.Responses.New(ctx, responses.ResponseNewParams{Model: model, Input: hello, PreviousResponseID: param.NewOpt(id)}, option.WithResponseInto(&raw))
			if err != nil || cont.OutputText() == "" {
				t.Fatalf("owner's continuation: %v", err)
			}
			if ev := h.waitUsage(raw.Header.Get("X-Request-Id")); ev.CostMicros <= 0 || ev.AccountID != h.accountID {
				t.Errorf("continuation billed %+v", ev)
			}
			// A streamed response is bound by the time its id reaches the
			// client.
			s = owner.Responses.NewStreaming(ctx, responses.ResponseNewParams{Model: model, Input: hello})
			var streamedID string
			for s.Next() {
				if ev := s.Current(); ev.Type == "response.created" && streamedID == "" {
					streamedID = ev.Response.ID
					if _, err := other.Responses.Get(ctx, streamedID, responses.ResponseGetParams{}); err == nil {
						t.Errorf("another account fetched a streamed response")
					}
					if _, err := owner.Responses.Get(ctx, streamedID, responses.ResponseGetParams{}); err != nil {
						t.Errorf("the owner cannot fetch a streamed response while it streams: %v", err)
					}
				}
			}
			if s.Err() != nil || streamedID == "" {
				t.Fatalf("stream: %v", s.Err())
			}
			// Continued with another provider's model: refused, not sent.
			otherModel := map[string]string{"gpt-5-mini": "grok-4", "grok-4": "gpt-5-mini"}[model]
			_, err = owner.Responses.New(ctx, responses.ResponseNewParams{Model: otherModel, Input: hello, PreviousResponseID: param.NewOpt(id)})
			wantAPIError(t, err, 400, "previous_response_id", "continue it with")
			// Deleted by its owner, then gone for the owner too.
			if err := owner.Responses.Delete(ctx, id); err != nil {
				t.Fatalf("owner's DELETE: %v", err)
			}
			_, err = owner.Responses.Get(ctx, id, responses.ResponseGetParams{})
			wantAPIError(t, err, 404, "", id)
		})
	}
	// Bindings expire when the providers forget the responses.
	kv, err := h.bus.KV(ctx, events.BucketResponses)
	if err != nil {
		t.Fatal(err)
	}
	st, err := kv.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.TTL() != events.ResponsesRetention {
		t.Errorf("bucket TTL %v, want the providers' retention %v", st.TTL(), events.ResponsesRetention)
	}
}

func TestResponses_AContinuationOfAStoredResponseIsHeldAtTheModelsWholeContext(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withConfig(func(c *gateway.Config) { c.ResponsesStore = true }))
	h.serveResponses()
	client := h.openai(h.key)
	ctx := context.Background()
	hello := responses.ResponseNewParamsInputUnion{OfString: param.NewOpt("Hello")}
	created, err := client.Responses.New(ctx, responses.ResponseNewParams{Model: "gpt-5-mini", Input: hello, MaxOutputTokens: param.NewOpt[int64](100)})
	if err != nil {
		t.Fatal(err)
	}
	// $0.05 covers a short request but not gpt-5-mini's whole context
	// (272,000 tokens at $0.25 per million: $0.068), which the stored
	// conversation may fill.
	h.setBalance(h.accountID, 50_000, 0)
	waitFor(t, time.Minute, "the lower balance", func() bool { return h.credits(h.key).BalanceMicros == 50_000 })
	if _, err := client.Responses.New(ctx, responses.ResponseNewParams{Model: "gpt-5-mini", Input: hello, MaxOutputTokens: param.NewOpt[int64](100)}); err != nil {
		t.Fatalf("a short request: %v", err)
	}
	before := len(h.fakes[catalog.OpenAI].requests())
	_, err = client.Responses.New(ctx, responses.ResponseNewParams{Model: "gpt-5-mini", Input: hello, MaxOutputTokens: param.NewOpt[int64](100), PreviousResponseID: param.NewOpt(created.ID)})
	wantAPIError(t, err, 402, "", "balance")
	if n := len(h.fakes[catalog.OpenAI].requests()); n != before {
		t.Errorf("the refused continuation reached the provider")
	}
	if !strings.HasPrefix(created.ID, "resp_") {
		t.Errorf("id %q", created.ID)
	}
}
