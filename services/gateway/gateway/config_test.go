package gateway_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/onekey-oss/onekey/api/catalog"
	"github.com/onekey-oss/onekey/pkg/config"
	"github.com/onekey-oss/onekey/services/gateway/gateway"
)

func TestConfigFromEnv_ProviderVarsAndChannelsFileMakeChannels(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "channels.json")
	if err := os.WriteFile(file, []byte(`[{"name":"openai-eu","provider":"openai","base_url":"https://eu.example.com/v1","api_key_env":"EU_KEY","priority":5,"weight":3}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := gateway.ConfigFromEnv(config.MapEnv(map[string]string{
		"OPENAI_API_KEY": "sk-1", "ANTHROPIC_API_KEY": "sk-ant", "ANTHROPIC_BASE_URL": "https://proxy.example.com",
		"GATEWAY_CHANNELS_FILE": file, "EU_KEY": "sk-eu", "GATEWAY_RETRIES": "0", "UPSTREAM_IDLE_TIMEOUT": "45s",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]gateway.ChannelConfig{
		"openai":    {Provider: catalog.OpenAI, BaseURL: gateway.DefaultOpenAIBaseURL, APIKey: "sk-1"},
		"anthropic": {Provider: catalog.Anthropic, BaseURL: "https://proxy.example.com", APIKey: "sk-ant"},
		"openai-eu": {Provider: catalog.OpenAI, BaseURL: "https://eu.example.com/v1", APIKey: "sk-eu"},
	}
	if len(cfg.Channels) != len(want) {
		t.Fatalf("channels = %+v", cfg.Channels)
	}
	for _, c := range cfg.Channels {
		w := want[c.Name]
		if c.Provider != w.Provider || c.BaseURL != w.BaseURL || c.APIKey != w.APIKey {
			t.Errorf("channel %s = %+v", c.Name, c)
		}
	}
	if cfg.Retries >= 0 || cfg.IdleTimeout != 45*time.Second || cfg.Addr != "127.0.0.1:8080" || cfg.MarkupBasisPoints != 0 {
		t.Errorf("cfg = %+v", cfg)
	}
}

func TestConfigFromEnv_ReportsEveryProblemTogether(t *testing.T) {
	t.Parallel()
	_, err := gateway.ConfigFromEnv(config.MapEnv(map[string]string{
		"GATEWAY_MARKUP_BPS": "-5", "GATEWAY_RETRIES": "9", "UPSTREAM_CONNECT_TIMEOUT": "soon", "XAI_API_KEY": "k", "XAI_BASE_URL": "ftp://x",
	}))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"GATEWAY_MARKUP_BPS", "GATEWAY_RETRIES", "UPSTREAM_CONNECT_TIMEOUT", "ftp://x"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s: %v", want, err)
		}
	}
}

// Each default is written once, in DefaultConfig: the environment's
// defaults are DefaultConfig's, and New fills what a caller left zero from
// it.
func TestConfig_DefaultsComeFromDefaultConfigOnly(t *testing.T) {
	t.Parallel()
	def := gateway.DefaultConfig()
	if err := def.Validate(); err != nil {
		t.Fatalf("DefaultConfig does not validate: %v", err)
	}
	got, err := gateway.ConfigFromEnv(config.MapEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, def) {
		t.Errorf("ConfigFromEnv with no variables =\n%+v\nwant DefaultConfig\n%+v", got, def)
	}
}

func TestConfig_ValidateReportsEveryProblemTogether(t *testing.T) {
	t.Parallel()
	c := gateway.DefaultConfig()
	c.OutboxDir, c.MaxBodyBytes, c.Retries, c.LeaseTimeout = "", 0, 9, -time.Second
	c.Channels = []gateway.ChannelConfig{{Name: "x", Provider: "nope", BaseURL: "https://x.example", APIKey: "k"}}
	err := c.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"GATEWAY_OUTBOX_DIR", "GATEWAY_MAX_BODY_BYTES", "GATEWAY_RETRIES", "GATEWAY_LEASE_TIMEOUT", "unknown provider"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s: %v", want, err)
		}
	}
}

func TestConfig_ALeaseTimeoutNotShorterThanTheLeasesValidityIsRefused(t *testing.T) {
	t.Parallel()
	c := gateway.DefaultConfig()
	c.OutboxDir = t.TempDir()
	c.LeaseValidity, c.LeaseTimeout = 10*time.Second, 10*time.Second
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "GATEWAY_LEASE_TIMEOUT=10s: want less than GATEWAY_LEASE_VALIDITY") {
		t.Fatalf("Validate() = %v, want the lease timeout refused", err)
	}
	c.LeaseTimeout = 9 * time.Second
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate() = %v with the timeout under the validity", err)
	}
}
