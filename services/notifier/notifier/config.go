package notifier

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/pkg/config"
	"github.com/onekey-oss/onekey/services/notifier/internal/send"
)

// Config is the notifier's settings: DefaultConfig, changed by
// ConfigFromEnv from the environment, or by tests and devstack directly (New
// takes what they leave zero from DefaultConfig and validates). Exactly one
// way of sending is configured: Resend (ResendAPIKey) or, for development,
// an outbox folder (OutboxDir).
type Config struct {
	// AdminAddr is where main's admin server (pkg/boot) serves /healthz,
	// /readyz and /metrics (NOTIFIER_ADMIN_ADDR, or its older name
	// NOTIFIER_ADDR); New does not listen on it.
	AdminAddr string

	// ResendAPIKey selects Resend. ResendBaseURL overrides its API
	// address (tests); a missing trailing slash is added.
	ResendAPIKey  string
	ResendBaseURL string
	// From is the sender, on a domain verified at Resend.
	From    string
	ReplyTo string
	// OutboxDir, used when there is no Resend key, receives every mail as
	// an .eml file; the console gets a line per mail with any sign-in link.
	OutboxDir string

	// MailSealKey opens the sealed link of a sign-in mail; auth seals it
	// with the same key (MAIL_SEAL_KEY, required: standard base64 of 32
	// random bytes). MailSealKeyPrevious, during a rotation, opens mails
	// sealed with the key before (MAIL_SEAL_KEY_PREVIOUS, optional).
	MailSealKey         string
	MailSealKeyPrevious string

	// SiteName, SiteURL and DashboardURL are what mails say about us and
	// where they point.
	SiteName     string
	SiteURL      string
	DashboardURL string
	// MagicLinkTTL is how long a sign-in link lives when its event does not
	// say; a sign-in mail that could not go out within it is dropped.
	MagicLinkTTL time.Duration

	// SendAttempts and SendBackoff: tries of one delivery against Resend on
	// 429/5xx/no answer, and the first pause between them (doubling).
	SendAttempts int
	SendBackoff  time.Duration
	// MaxDeliveries is how often the bus delivers an event that keeps
	// failing before it is dead-lettered; RetryBackoff × delivery number is
	// the pause before each redelivery.
	MaxDeliveries int
	RetryBackoff  time.Duration
	// RecordRetention is how long the record that a mail was sent is kept.
	// It must outlast the NOTIFY stream's retention (7 days), so that any
	// redelivery still finds it.
	RecordRetention time.Duration
	// NoticeInterval paces notices to every user (tools/notice): at most
	// one notice mail per interval, leaving the rest of the mail
	// provider's rate limit to sign-in links and receipts.
	NoticeInterval time.Duration
}

// notifyStreamRetention is the NOTIFY stream's retention (pkg/bus).
const notifyStreamRetention = 7 * 24 * time.Hour

// DefaultConfig is the notifier's configuration with nothing set: every
// default, written here once. No way of sending: ConfigFromEnv or the
// caller sets one.
func DefaultConfig() Config {
	return Config{
		AdminAddr:       "127.0.0.1:9094",
		ResendBaseURL:   send.DefaultResendURL,
		SiteName:        "onekey",
		SiteURL:         "http://127.0.0.1:8081",
		MagicLinkTTL:    15 * time.Minute,
		SendAttempts:    3,
		SendBackoff:     500 * time.Millisecond,
		MaxDeliveries:   12,
		RetryBackoff:    10 * time.Second,
		RecordRetention: 30 * 24 * time.Hour,
		NoticeInterval:  time.Second,
	}
}

// ConfigFromEnv reads the environment; every problem is reported together.
//
// It starts from DefaultConfig; NATS_URL, MONGODB_URI and the other
// variables common to every service are pkg/boot's.
//
//	NOTIFIER_ADMIN_ADDR         127.0.0.1:9094   /healthz, /readyz, /metrics (older name NOTIFIER_ADDR)
//	RESEND_API_KEY              ""         sends through Resend when set
//	RESEND_BASE_URL             https://api.resend.com/
//	MAIL_FROM                   required with RESEND_API_KEY
//	MAIL_REPLY_TO               ""
//	NOTIFIER_OUTBOX_DIR         ""         without a Resend key: mails to .eml files (development)
//	MAIL_SEAL_KEY               required   opens sign-in links sealed by auth (base64 of 32 bytes)
//	MAIL_SEAL_KEY_PREVIOUS      ""         during a rotation: the key auth sealed with before
//	SITE_NAME                   onekey
//	PUBLIC_URL                  http://127.0.0.1:8081   the site, in every mail's footer
//	DASHBOARD_URL               PUBLIC_URL + "/"        where mails send people to see or top up
//	MAGIC_LINK_TTL              15m        when a sign-in event does not carry its expiry
//	NOTIFIER_SEND_ATTEMPTS      3          tries per delivery on Resend 429/5xx/no answer
//	NOTIFIER_SEND_BACKOFF       500ms      first pause between them (doubling, at most 5s)
//	NOTIFIER_MAX_DELIVERIES     12         deliveries of a failing NOTIFY event before its dead letter
//	NOTIFIER_RETRY_BACKOFF      10s        × delivery number, the pause before a redelivery
//	NOTIFIER_RECORD_RETENTION   720h       how long "mail sent" records are kept (≥ 14 days)
//	NOTIFIER_NOTICE_INTERVAL    1s         at most one notice mail (tools/notice) per interval
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	r := config.NewReader(getenv)
	d := DefaultConfig()
	c := Config{
		AdminAddr:           r.String("NOTIFIER_ADMIN_ADDR", r.String("NOTIFIER_ADDR", d.AdminAddr)),
		ResendAPIKey:        r.String("RESEND_API_KEY", d.ResendAPIKey),
		ResendBaseURL:       r.String("RESEND_BASE_URL", d.ResendBaseURL),
		From:                r.String("MAIL_FROM", d.From),
		ReplyTo:             r.String("MAIL_REPLY_TO", d.ReplyTo),
		OutboxDir:           r.String("NOTIFIER_OUTBOX_DIR", d.OutboxDir),
		MailSealKey:         r.String("MAIL_SEAL_KEY", d.MailSealKey),
		MailSealKeyPrevious: r.String("MAIL_SEAL_KEY_PREVIOUS", d.MailSealKeyPrevious),
		SiteName:            r.String("SITE_NAME", d.SiteName),
		SiteURL:             r.String("PUBLIC_URL", d.SiteURL),
		DashboardURL:        r.String("DASHBOARD_URL", d.DashboardURL),
		MagicLinkTTL:        r.Duration("MAGIC_LINK_TTL", d.MagicLinkTTL),
		SendAttempts:        r.Int("NOTIFIER_SEND_ATTEMPTS", d.SendAttempts),
		SendBackoff:         r.Duration("NOTIFIER_SEND_BACKOFF", d.SendBackoff),
		MaxDeliveries:       r.Int("NOTIFIER_MAX_DELIVERIES", d.MaxDeliveries),
		RetryBackoff:        r.Duration("NOTIFIER_RETRY_BACKOFF", d.RetryBackoff),
		RecordRetention:     r.Duration("NOTIFIER_RECORD_RETENTION", d.RecordRetention),
		NoticeInterval:      r.Duration("NOTIFIER_NOTICE_INTERVAL", d.NoticeInterval),
	}
	if err := errors.Join(r.Err(), c.Validate()); err != nil {
		return Config{}, err
	}
	return c, nil
}

// withDefaults fills what a caller building Config by hand (devstack,
// tests) may leave zero, from DefaultConfig: its numbers, and the strings
// that cannot be meant empty.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	c = config.WithDefaults(c, d)
	if c.SiteName == "" {
		c.SiteName = d.SiteName
	}
	if c.SiteURL == "" {
		c.SiteURL = d.SiteURL
	}
	if c.ResendBaseURL == "" {
		c.ResendBaseURL = d.ResendBaseURL
	}
	if c.DashboardURL == "" {
		c.DashboardURL = strings.TrimSuffix(c.SiteURL, "/") + "/"
	}
	return c
}

// Validate reports every problem of c together, each named by its
// variable. New calls it after taking what was left zero from
// DefaultConfig.
func (c Config) Validate() error {
	r := config.NewReader(func(string) string { return "" })
	switch {
	case c.ResendAPIKey != "" && c.From == "":
		r.Fail("MAIL_FROM is required with RESEND_API_KEY (an address on a domain verified at Resend)")
	case c.ResendAPIKey == "" && c.OutboxDir == "":
		r.Fail("set RESEND_API_KEY to send mail, or NOTIFIER_OUTBOX_DIR to write mails to a folder (development)")
	}
	if _, err := c.mailKeys(); err != nil {
		r.Fail("%v", err)
	}
	for name, v := range map[string]string{"PUBLIC_URL": c.SiteURL, "DASHBOARD_URL": c.DashboardURL, "RESEND_BASE_URL": c.ResendBaseURL} {
		if u, err := url.Parse(v); v != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
			r.Fail("%s=%q is not an absolute http(s) URL", name, v)
		}
	}
	if c.SendAttempts < 1 || c.MaxDeliveries < 1 {
		r.Fail("NOTIFIER_SEND_ATTEMPTS and NOTIFIER_MAX_DELIVERIES must be at least 1")
	}
	if c.RecordRetention < notifyStreamRetention {
		r.Fail("NOTIFIER_RECORD_RETENTION=%s is shorter than the NOTIFY stream's %s: a late redelivery could mail twice", c.RecordRetention, notifyStreamRetention)
	} else if c.RecordRetention < bus.NoticesRetention {
		r.Fail("NOTIFIER_RECORD_RETENTION=%s is shorter than the NOTICES stream's %s: a late redelivery could mail twice", c.RecordRetention, bus.NoticesRetention)
	}
	if c.NoticeInterval < 0 {
		r.Fail("NOTIFIER_NOTICE_INTERVAL must not be negative")
	}
	for name, v := range map[string]time.Duration{"MAGIC_LINK_TTL": c.MagicLinkTTL, "NOTIFIER_SEND_BACKOFF": c.SendBackoff, "NOTIFIER_RETRY_BACKOFF": c.RetryBackoff} {
		if v <= 0 {
			r.Fail("%s=%s: want a positive duration", name, v)
		}
	}
	return r.Err()
}

// mailKeys parses the keys that open sealed sign-in links: the current one
// first, then the previous one if set.
func (c Config) mailKeys() ([]events.MailSealKey, error) {
	if c.MailSealKey == "" {
		return nil, errors.New("MAIL_SEAL_KEY: required, the key auth seals sign-in links with (standard base64 of 32 random bytes: `openssl rand -base64 32`)")
	}
	cur, err := events.ParseMailSealKey(c.MailSealKey)
	if err != nil {
		return nil, fmt.Errorf("MAIL_SEAL_KEY: %w", err)
	}
	keys := []events.MailSealKey{cur}
	if c.MailSealKeyPrevious != "" {
		prev, err := events.ParseMailSealKey(c.MailSealKeyPrevious)
		if err != nil {
			return nil, fmt.Errorf("MAIL_SEAL_KEY_PREVIOUS: %w", err)
		}
		keys = append(keys, prev)
	}
	return keys, nil
}
