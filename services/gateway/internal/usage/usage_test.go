package usage_test

import (
	"encoding/json"
	"testing"

	"github.com/onekey-oss/onekey/api/catalog"
	"github.com/onekey-oss/onekey/services/gateway/internal/usage"
)

func TestAnthropic_SplitsCacheWritesByLifetimeAndCountsServerTools(t *testing.T) {
	t.Parallel()
	var start, delta usage.Anthropic
	// message_start, then message_delta with the final counts.
	_ = json.Unmarshal([]byte(`{"input_tokens":10,"cache_creation_input_tokens":600,"cache_read_input_tokens":5,
		"cache_creation":{"ephemeral_5m_input_tokens":200,"ephemeral_1h_input_tokens":400},"output_tokens":1,
		"server_tool_use":{"web_search_requests":0}}`), &start)
	_ = json.Unmarshal([]byte(`{"input_tokens":900,"output_tokens":70,"server_tool_use":{"web_search_requests":3,"web_fetch_requests":2}}`), &delta)
	start.Merge(delta)
	want := catalog.Usage{InputTokens: 900, CachedInputTokens: 5, CacheWriteTokens: 200, CacheWrite1hTokens: 400, OutputTokens: 70,
		WebSearchRequests: 3, WebFetchRequests: 2}
	if got := start.Usage(); got != want {
		t.Errorf("Usage = %+v, want %+v", got, want)
	}
}

func TestAnthropic_CacheWritesAreNeverBilledTwiceOrDropped(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		doc        string
		five, hour int64
	}{
		{`{"input_tokens":1,"cache_creation_input_tokens":300}`, 300, 0},
		{`{"input_tokens":1,"cache_creation":{"ephemeral_5m_input_tokens":20,"ephemeral_1h_input_tokens":30}}`, 20, 30},
		{`{"input_tokens":1,"cache_creation_input_tokens":25,"cache_creation":{"ephemeral_1h_input_tokens":30}}`, 0, 25},
	} {
		var a usage.Anthropic
		if err := json.Unmarshal([]byte(tt.doc), &a); err != nil {
			t.Fatal(err)
		}
		if u := a.Usage(); u.CacheWriteTokens != tt.five || u.CacheWrite1hTokens != tt.hour {
			t.Errorf("%s: 5m %d 1h %d, want %d and %d", tt.doc, u.CacheWriteTokens, u.CacheWrite1hTokens, tt.five, tt.hour)
		}
	}
}

func TestServiceTier_ReadsTheTopLevelTierOnly(t *testing.T) {
	t.Parallel()
	for doc, want := range map[string]string{
		`{"id":"x","choices":[{"message":{"content":"\"service_tier\":\"priority\""}}],"service_tier":"flex"}`: "flex",
		`{"id":"x","choices":[{"message":{"content":"\"service_tier\":\"priority\""}}]}`:                       "",
		`{"id":"x","service_tier":null}`: "",
	} {
		if got := usage.ServiceTier([]byte(doc)); got != want {
			t.Errorf("%s: %q, want %q", doc, got, want)
		}
	}
}
