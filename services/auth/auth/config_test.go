package auth_test

import (
	"strings"
	"testing"

	"github.com/onekey-oss/onekey/pkg/config"
	"github.com/onekey-oss/onekey/services/auth/auth"
)

func TestConfig_DefaultsAndEveryProblemReportedTogether(t *testing.T) {
	t.Parallel()
	c, err := auth.ConfigFromEnv(config.MapEnv(map[string]string{"NATS_URL": "nats://x", "MONGODB_URI": "mongodb://y", "AUTH_FREE_GRANT_SECRET": strings.Repeat("s", 32), "MAIL_SEAL_KEY": harnessMailKey}))
	if err != nil {
		t.Fatal(err)
	}
	// Each default is written once, in DefaultConfig.
	d := auth.DefaultConfig()
	if c.Addr != d.Addr || c.PublicURL != "http://"+d.Addr || c.AdminAddr != d.AdminAddr || c.MagicLinksPerAddress != 5 || c.Google.Issuer != d.Google.Issuer ||
		c.Dashboard.CheckoutMin != d.Dashboard.CheckoutMin || c.Assistant.Model != d.Assistant.Model {
		t.Fatalf("defaults: %+v, want DefaultConfig's %+v", c, d)
	}
	_, err = auth.ConfigFromEnv(config.MapEnv(map[string]string{
		"AUTH_PUBLIC_URL": "not a url", "GOOGLE_CLIENT_ID": "id", "GITHUB_CLIENT_SECRET": "s", "AUTH_MAGIC_LINKS_PER_IP": "many",
	}))
	if err == nil {
		t.Fatal("bad config accepted")
	}
	for _, want := range []string{"AUTH_PUBLIC_URL", "GOOGLE_CLIENT_ID", "GITHUB_CLIENT_ID", "AUTH_MAGIC_LINKS_PER_IP", "AUTH_FREE_GRANT_SECRET", "MAIL_SEAL_KEY"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s: %v", want, err)
		}
	}
}

func TestConfig_AMailSealKeyOfTheWrongSizeIsRefusedWithoutEchoingIt(t *testing.T) {
	t.Parallel()
	short := "c2hvcnQgYnV0IHNlY3JldA==" // 16 bytes
	_, err := auth.ConfigFromEnv(config.MapEnv(map[string]string{"NATS_URL": "nats://x", "MONGODB_URI": "mongodb://y", "AUTH_FREE_GRANT_SECRET": strings.Repeat("s", 32), "MAIL_SEAL_KEY": short}))
	if err == nil || !strings.Contains(err.Error(), "MAIL_SEAL_KEY") || !strings.Contains(err.Error(), "want 32") {
		t.Fatalf("err = %v, want MAIL_SEAL_KEY's length refused", err)
	}
	if strings.Contains(err.Error(), short) {
		t.Fatalf("the error repeats the key: %v", err)
	}
}
