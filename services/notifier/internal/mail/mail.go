// Package mail turns notifier events into mails: a subject, a plain-text
// body and an HTML body, rendered from embedded templates.
//
// Rendering is a pure function of the event and the site settings (no
// clock, no randomness), so a redelivered event renders byte for byte the
// same mail. That matters: Resend answers a reused Idempotency-Key with a
// different payload by 409 invalid_idempotent_request instead of
// deduplicating it.
package mail

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"net/url"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/money"
)

// Kinds of mail. Each has a pair of templates: <kind>.txt and <kind>.html.
const (
	KindMagicLink     = events.MailMagicLink // "magic_link"
	KindReceipt       = "receipt"
	KindBalanceLow    = "balance_low"
	KindPaymentFailed = "payment_failed"
	KindTxRejected    = "tx_rejected"
)

// Kinds lists every kind of mail.
func Kinds() []string {
	return []string{KindMagicLink, KindReceipt, KindBalanceLow, KindPaymentFailed, KindTxRejected, KindNotice}
}

// ErrInvalid is returned for an event no mail can be made of (a missing or
// unsafe link, an unknown template). Retrying cannot fix it.
var ErrInvalid = errors.New("invalid mail")

// Message is one rendered mail.
type Message struct {
	// ID is the id of the event the mail is made of; it is the idempotency
	// key of the send.
	ID        string
	Time      time.Time // the event's time: the mail's Date
	Kind      string
	AccountID string // "" when the mail concerns no account yet
	To        string
	Subject   string
	Text      string
	HTML      string
	// Link is the one action of the mail when it is the point of it (the
	// sign-in link). Only the devstack console prints it.
	Link string
}

// Site is what every mail says about us.
type Site struct {
	// Name of the product, "onekey".
	Name string
	// URL of the public site, for the footer.
	URL string
	// DashboardURL is where a person sees the balance and tops up.
	DashboardURL string
	// MagicLinkTTL is how long a sign-in link is valid, said in the mail
	// when the event does not carry its expiry.
	MagicLinkTTL time.Duration
}

// Renderer renders mails. It is safe for concurrent use.
type Renderer struct {
	site Site
	text map[string]*texttemplate.Template
	html map[string]*htmltemplate.Template
}

//go:embed templates
var templates embed.FS

// NewRenderer parses every template once.
func NewRenderer(site Site) (*Renderer, error) {
	if site.Name == "" {
		return nil, fmt.Errorf("mail: site name is empty")
	}
	for name, u := range map[string]string{"site URL": site.URL, "dashboard URL": site.DashboardURL} {
		if err := checkURL(u); err != nil {
			return nil, fmt.Errorf("mail: %s: %w", name, err)
		}
	}
	if site.MagicLinkTTL <= 0 {
		site.MagicLinkTTL = 15 * time.Minute
	}
	r := &Renderer{site: site, text: map[string]*texttemplate.Template{}, html: map[string]*htmltemplate.Template{}}
	funcs := map[string]any{"button": func(u, label string) button { return button{URL: u, Label: label} }}
	for _, k := range Kinds() {
		tt, err := texttemplate.New(k).Option("missingkey=error").ParseFS(templates, "templates/layout.txt", "templates/"+k+".txt")
		if err != nil {
			return nil, fmt.Errorf("mail: parse %s.txt: %w", k, err)
		}
		ht, err := htmltemplate.New(k).Option("missingkey=error").Funcs(funcs).ParseFS(templates, "templates/layout.html", "templates/"+k+".html")
		if err != nil {
			return nil, fmt.Errorf("mail: parse %s.html: %w", k, err)
		}
		r.text[k], r.html[k] = tt, ht
	}
	return r, nil
}

type button struct{ URL, Label string }

// MagicLink renders a mail.requested event. Its data must hold "link", an
// absolute http(s) URL. The link's validity said in the mail is
// "expires_at" (RFC 3339) when present, else "expires_in" ("15 minutes"),
// else the configured MagicLinkTTL.
func (r *Renderer) MagicLink(ev events.MailRequestedV1) (Message, error) {
	if ev.Template != KindMagicLink {
		return Message{}, fmt.Errorf("%w: unknown template %q", ErrInvalid, ev.Template)
	}
	if err := checkAddress(ev.To); err != nil {
		return Message{}, err
	}
	link := ev.Data["link"]
	if err := checkURL(link); err != nil {
		return Message{}, fmt.Errorf("%w: magic link: %v", ErrInvalid, err)
	}
	expires := "in " + humanDuration(r.site.MagicLinkTTL)
	if s := ev.Data["expires_in"]; s != "" {
		expires = "in " + strings.Join(strings.Fields(s), " ")
	}
	if s := ev.Data["expires_at"]; s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return Message{}, fmt.Errorf("%w: expires_at %q is not RFC 3339", ErrInvalid, s)
		}
		expires = "at " + t.UTC().Format("15:04 UTC on 2 January 2006")
	}
	m, err := r.render(KindMagicLink, struct {
		Site    Site
		Link    string
		Expires string
	}{r.site, link, expires})
	if err != nil {
		return Message{}, err
	}
	m.ID, m.AccountID, m.To, m.Link = ev.ID, ev.AccountID, ev.To, link
	m.Time = ev.Time.UTC()
	return m, nil
}

// Receipt renders a credit.applied event: a receipt for a payment, or the
// notice of a refund or chargeback that reduced the balance.
func (r *Renderer) Receipt(ev events.CreditAppliedV1, to string) (Message, error) {
	if err := checkAddress(to); err != nil {
		return Message{}, err
	}
	amount := ev.AmountMicros
	if amount < 0 {
		amount = -amount
	}
	var title, summary string
	switch ev.Kind {
	case events.CreditPurchase:
		title = fmt.Sprintf("Receipt: %s added to your %s balance", amountText(amount), r.site.Name)
		summary = fmt.Sprintf("Thank you: we received your payment of %s and added it to your balance.", amountText(amount))
	case events.CreditRefund:
		title = fmt.Sprintf("Refund of %s from your %s balance", amountText(amount), r.site.Name)
		summary = fmt.Sprintf("We refunded %s to you; it was taken off your balance.", amountText(amount))
	case events.CreditDispute:
		title = fmt.Sprintf("Chargeback of %s opened on your %s payment", amountText(amount), r.site.Name)
		summary = fmt.Sprintf("A chargeback of %s was opened on your payment; the amount was taken off your balance while it is decided.", amountText(amount))
	case events.CreditDisputeWon:
		title = fmt.Sprintf("%s restored to your %s balance", amountText(amount), r.site.Name)
		summary = fmt.Sprintf("The chargeback on your payment was closed and %s was restored to your balance.", amountText(amount))
	default:
		title = fmt.Sprintf("Your %s balance changed by %s", r.site.Name, signedAmountText(ev.AmountMicros))
		summary = fmt.Sprintf("Your balance changed by %s.", signedAmountText(ev.AmountMicros))
	}
	m, err := r.render(KindReceipt, struct {
		Site                                                     Site
		Title, Summary, Amount, Method, Date, Reference, Balance string
	}{r.site, title, summary, amountText(amount), methodText(ev.Method), dateText(ev.Time), ev.SourceEventID, amountText(ev.BalanceMicros)})
	if err != nil {
		return Message{}, err
	}
	m.ID, m.AccountID, m.To = ev.ID, ev.AccountID, to
	m.Time = ev.Time.UTC()
	return m, nil
}

// BalanceLow renders a balance.low event.
func (r *Renderer) BalanceLow(ev events.BalanceLowV1, to string) (Message, error) {
	if err := checkAddress(to); err != nil {
		return Message{}, err
	}
	m, err := r.render(KindBalanceLow, struct {
		Site               Site
		Balance, Threshold string
	}{r.site, amountText(ev.BalanceMicros), amountText(ev.ThresholdMicros)})
	if err != nil {
		return Message{}, err
	}
	m.ID, m.AccountID, m.To = ev.ID, ev.AccountID, to
	m.Time = ev.Time.UTC()
	return m, nil
}

// PaymentFailed renders a payment.failed event.
func (r *Renderer) PaymentFailed(ev events.PaymentFailedV1, to string) (Message, error) {
	if err := checkAddress(to); err != nil {
		return Message{}, err
	}
	m, err := r.render(KindPaymentFailed, struct {
		Site                            Site
		Amount, Date, Reason, Reference string
	}{r.site, amountText(ev.AmountMicros), dateText(ev.Time), paymentReasonText(ev.Reason), ev.PaymentID})
	if err != nil {
		return Message{}, err
	}
	m.ID, m.AccountID, m.To = ev.ID, ev.AccountID, to
	m.Time = ev.Time.UTC()
	return m, nil
}

// TxRejected renders a tx.rejected event.
func (r *Renderer) TxRejected(ev events.TxRejectedV1, to string) (Message, error) {
	if err := checkAddress(to); err != nil {
		return Message{}, err
	}
	m, err := r.render(KindTxRejected, struct {
		Site                        Site
		Chain, TxHash, Date, Reason string
	}{r.site, chainText(ev.Chain), ev.TxHash, dateText(ev.Time), txReasonText(ev.Reason)})
	if err != nil {
		return Message{}, err
	}
	m.ID, m.AccountID, m.To = ev.ID, ev.AccountID, to
	m.Time = ev.Time.UTC()
	return m, nil
}

func (r *Renderer) render(kind string, data any) (Message, error) {
	var subj, text, html bytes.Buffer
	tt, ht := r.text[kind], r.html[kind]
	if err := tt.ExecuteTemplate(&subj, "subject", data); err != nil {
		return Message{}, fmt.Errorf("render %s subject: %w", kind, err)
	}
	if err := tt.ExecuteTemplate(&text, "body", data); err != nil {
		return Message{}, fmt.Errorf("render %s text: %w", kind, err)
	}
	if err := ht.ExecuteTemplate(&html, "layout", data); err != nil {
		return Message{}, fmt.Errorf("render %s html: %w", kind, err)
	}
	return Message{
		Kind: kind,
		// A subject is one header line, whatever the data held.
		Subject: strings.Join(strings.Fields(subj.String()), " "),
		Text:    strings.TrimSpace(text.String()) + "\n",
		HTML:    html.String(),
	}, nil
}

// checkAddress refuses what cannot be one mail address (and so could not
// be put in a header safely).
func checkAddress(addr string) error {
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || at == len(addr)-1 || strings.ContainsAny(addr, " \t\r\n<>,;\"") || len(addr) > 254 {
		return fmt.Errorf("%w: not a mail address", ErrInvalid) // the address itself is not repeated: it is personal data
	}
	return nil
}

func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return errors.New("not an absolute http(s) URL")
	}
	return nil
}

// amountText shows cents when the amount is a whole number of cents, and
// every micro-dollar otherwise, so a receipt never rounds money away.
func amountText(m money.Micros) string {
	if m%money.Cent == 0 {
		return m.Display()
	}
	return m.String()
}

func signedAmountText(m money.Micros) string {
	if m > 0 {
		return "+" + amountText(m)
	}
	return amountText(m)
}

func dateText(t time.Time) string { return t.UTC().Format("2 January 2006, 15:04 UTC") }

func humanDuration(d time.Duration) string {
	if d%time.Minute == 0 && d < 2*time.Hour {
		if d == time.Minute {
			return "1 minute"
		}
		return fmt.Sprintf("%d minutes", d/time.Minute)
	}
	return d.String()
}

func methodText(method string) string {
	switch method {
	case "card":
		return "card"
	case "crypto":
		return "stablecoin transfer"
	case "adjustment":
		return "adjustment by onekey"
	case "":
		return "-"
	}
	return method
}

func chainText(chain string) string {
	switch chain {
	case "ethereum":
		return "Ethereum"
	case "base":
		return "Base"
	}
	return chain
}

func txReasonText(reason string) string {
	switch reason {
	case events.RejectReverted:
		return "the transaction failed (it was reverted on chain), so no tokens moved."
	case events.RejectWrongToken:
		return "it does not transfer a token we accept (USDC or USDT on a supported network)."
	case events.RejectWrongRecipient:
		return "the tokens were not sent to our deposit address."
	case events.RejectWrongSender:
		return "the tokens were not sent from a wallet linked to your account."
	case events.RejectNoTransfer:
		return "the transaction holds no token transfer."
	case events.RejectRemoved:
		return "the transfer disappeared from the chain in a reorganization."
	case events.RejectTimeout:
		return "the transaction was not found, or did not become final, in time."
	case events.RejectAlreadyCredited:
		return "this transfer was already credited."
	case events.RejectAmount:
		return "its amount cannot be credited (zero, or finer than a millionth of a dollar)."
	}
	return "it did not pass our checks (" + reason + ")."
}

func paymentReasonText(reason string) string {
	switch reason {
	case "", "failed", "async_payment_failed":
		return "the payment provider reported it as failed."
	case "declined", "card_declined":
		return "the card was declined."
	case "expired":
		return "the payment was not completed in time."
	}
	return reason + "."
}
