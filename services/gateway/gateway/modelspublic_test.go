package gateway_test

import (
	"bytes"
	"io"
	"net/http"
	"testing"
)

// The model list with prices is public (as the seeds publish it): the
// dashboard's assistant reads it from the gateway's public URL without a
// key, so it quotes the prices the gateway charges (markup and operator
// catalog included). A key that is sent is still checked.
func TestModels_ListAndModelAreServedWithoutAKeyButAWrongKeyIsRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	get := func(path, key string) (int, []byte) {
		req, _ := http.NewRequest(http.MethodGet, h.url+path, nil)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, body
	}
	open, openBody := get("/v1/models", "")
	keyed, keyedBody := get("/v1/models", h.key)
	if open != http.StatusOK || keyed != http.StatusOK || !bytes.Equal(openBody, keyedBody) {
		t.Errorf("GET /v1/models without a key: %d; with one: %d; same body: %v", open, keyed, bytes.Equal(openBody, keyedBody))
	}
	if code, _ := get("/v1/models/gpt-5-mini", ""); code != http.StatusOK {
		t.Errorf("GET /v1/models/gpt-5-mini without a key: %d", code)
	}
	if code, _ := get("/v1/models", "sk-onekey-wrong"); code != http.StatusUnauthorized {
		t.Errorf("GET /v1/models with a wrong key: %d, want 401", code)
	}
}
