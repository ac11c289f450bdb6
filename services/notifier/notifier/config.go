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

// Config is the notifier's settings. Exactly one way of sending is
// configured: Resend (ResendAPIKey) or, for development, an outbox folder
// (OutboxDir).
type Config struct {
	// NATSURL and MongoURI/MongoDB are where the bus and the database are
	// (read by main; devstack passes connected clients instead).
	NATSURL  string
	MongoURI string
	MongoDB  string
	// Addr serves /healthz, /readyz and /metrics (main only).
	Addr string

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

// Defaults.
const (
	DefaultAddr            = "127.0.0.1:8092"
	DefaultSiteName        = "onekey"
	DefaultSiteURL         = "http://127.0.0.1:8081"
	DefaultMagicLinkTTL    = 15 * time.Minute
	DefaultSendAttempts    = 3
	DefaultSendBackoff     = 500 * time.Millisecond
	DefaultMaxDeliveries   = 12
	DefaultRetryBackoff    = 10 * time.Second
	DefaultRecordRetention = 30 * 24 * time.Hour
	DefaultNoticeInterval  = time.Second
	notifyStreamRetention  = 7 * 24 * time.Hour
)

// ConfigFromEnv reads the environment; every problem is reported together.
//
//	NATS_URL                    required   the bus
//	MONGODB_URI, MONGODB_DB     required, "onekey"
//	NOTIFIER_ADDR               127.0.0.1:8092   /healthz, /readyz, /metrics
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
	c := Config{
		NATSURL:             r.Required("NATS_URL"),
		MongoURI:            r.Required("MONGODB_URI"),
		MongoDB:             r.String("MONGODB_DB", "onekey"),
		Addr:                r.String("NOTIFIER_ADDR", DefaultAddr),
		ResendAPIKey:        r.String("RESEND_API_KEY", ""),
		ResendBaseURL:       r.String("RESEND_BASE_URL", send.DefaultResendURL),
		From:                r.String("MAIL_FROM", ""),
		ReplyTo:             r.String("MAIL_REPLY_TO", ""),
		OutboxDir:           r.String("NOTIFIER_OUTBOX_DIR", ""),
		MailSealKey:         r.String("MAIL_SEAL_KEY", ""),
		MailSealKeyPrevious: r.String("MAIL_SEAL_KEY_PREVIOUS", ""),
		SiteName:            r.String("SITE_NAME", DefaultSiteName),
		SiteURL:             r.String("PUBLIC_URL", DefaultSiteURL),
		DashboardURL:        r.String("DASHBOARD_URL", ""),
		MagicLinkTTL:        r.Duration("MAGIC_LINK_TTL", DefaultMagicLinkTTL),
		SendAttempts:        r.Int("NOTIFIER_SEND_ATTEMPTS", DefaultSendAttempts),
		SendBackoff:         r.Duration("NOTIFIER_SEND_BACKOFF", DefaultSendBackoff),
		MaxDeliveries:       r.Int("NOTIFIER_MAX_DELIVERIES", DefaultMaxDeliveries),
		RetryBackoff:        r.Duration("NOTIFIER_RETRY_BACKOFF", DefaultRetryBackoff),
		RecordRetention:     r.Duration("NOTIFIER_RECORD_RETENTION", DefaultRecordRetention),
		NoticeInterval:      r.Duration("NOTIFIER_NOTICE_INTERVAL", DefaultNoticeInterval),
	}
	c.validate(r)
	if err := r.Err(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// withDefaults fills what a caller building Config by hand (devstack,
// tests) may leave zero.
func (c Config) withDefaults() Config {
	if c.SiteName == "" {
		c.SiteName = DefaultSiteName
	}
	if c.SiteURL == "" {
		c.SiteURL = DefaultSiteURL
	}
	if c.DashboardURL == "" {
		c.DashboardURL = strings.TrimSuffix(c.SiteURL, "/") + "/"
	}
	if c.MagicLinkTTL <= 0 {
		c.MagicLinkTTL = DefaultMagicLinkTTL
	}
	if c.SendAttempts <= 0 {
		c.SendAttempts = DefaultSendAttempts
	}
	if c.SendBackoff <= 0 {
		c.SendBackoff = DefaultSendBackoff
	}
	if c.MaxDeliveries <= 0 {
		c.MaxDeliveries = DefaultMaxDeliveries
	}
	if c.RetryBackoff <= 0 {
		c.RetryBackoff = DefaultRetryBackoff
	}
	if c.RecordRetention <= 0 {
		c.RecordRetention = DefaultRecordRetention
	}
	if c.NoticeInterval <= 0 {
		c.NoticeInterval = DefaultNoticeInterval
	}
	return c
}

// validate records every problem of the sending settings on r.
func (c Config) validate(r *config.Reader) {
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
	if c.SendAttempts < 0 || c.MaxDeliveries < 0 {
		r.Fail("NOTIFIER_SEND_ATTEMPTS and NOTIFIER_MAX_DELIVERIES must not be negative")
	}
	if c.RecordRetention > 0 && c.RecordRetention < notifyStreamRetention {
		r.Fail("NOTIFIER_RECORD_RETENTION=%s is shorter than the NOTIFY stream's %s: a late redelivery could mail twice", c.RecordRetention, notifyStreamRetention)
	} else if c.RecordRetention > 0 && c.RecordRetention < bus.NoticesRetention {
		r.Fail("NOTIFIER_RECORD_RETENTION=%s is shorter than the NOTICES stream's %s: a late redelivery could mail twice", c.RecordRetention, bus.NoticesRetention)
	}
	if c.NoticeInterval < 0 {
		r.Fail("NOTIFIER_NOTICE_INTERVAL must not be negative")
	}
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
