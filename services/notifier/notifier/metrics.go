package notifier

import (
	"context"
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// metrics are the notifier's instruments. In Prometheus:
//
//	notifier_mails_total{kind, outcome}   outcome: sent, duplicate (already
//	    sent, nothing done), retry (send failed, will be redelivered),
//	    refused (Resend refused the mail for good), invalid (no mail can be
//	    made of the event), no_address, expired (sign-in link too old),
//	    ignored (an event the notifier does not mail), dropped (a sign-in
//	    mail that can never be sent; not dead-lettered), unsealed (a
//	    sign-in link in clear: dropped), unopened (a sealed link that does
//	    not open with MAIL_SEAL_KEY or MAIL_SEAL_KEY_PREVIOUS: dropped)
//	notifier_send_duration_seconds{kind, transport, ok}
//	notifier_dead_letters_total{family}   events given up on: alert on it
type metrics struct {
	mails       metric.Int64Counter
	sendSeconds metric.Float64Histogram
	deadLetters metric.Int64Counter
}

func newMetrics(mp metric.MeterProvider) (metrics, error) {
	m := mp.Meter("github.com/onekey-oss/onekey/services/notifier")
	var ms metrics
	var err error
	if ms.mails, err = m.Int64Counter("notifier.mails", metric.WithDescription("Events handled, by mail kind and outcome.")); err != nil {
		return metrics{}, fmt.Errorf("notifier metrics: %w", err)
	}
	if ms.sendSeconds, err = m.Float64Histogram("notifier.send.duration", metric.WithUnit("s"), metric.WithDescription("Time to hand one mail to its transport, retries included.")); err != nil {
		return metrics{}, fmt.Errorf("notifier metrics: %w", err)
	}
	if ms.deadLetters, err = m.Int64Counter("notifier.dead_letters", metric.WithDescription("Events dead-lettered after their attempts or a permanent failure.")); err != nil {
		return metrics{}, fmt.Errorf("notifier metrics: %w", err)
	}
	return ms, nil
}

func (m metrics) mail(ctx context.Context, kind, outcome string) {
	m.mails.Add(ctx, 1, metric.WithAttributes(attribute.String("kind", kind), attribute.String("outcome", outcome)))
}

func (m metrics) sendDuration(ctx context.Context, kind, transport string, d time.Duration, ok bool) {
	m.sendSeconds.Record(ctx, d.Seconds(), metric.WithAttributes(attribute.String("kind", kind), attribute.String("transport", transport), attribute.Bool("ok", ok)))
}

// deadLetter counts by subject family, not by subject: the last token is
// an account id, which would make one series per account.
func (m metrics) deadLetter(ctx context.Context, subject string) {
	family := subject
	if i := strings.LastIndexByte(subject, '.'); i > 0 {
		family = subject[:i]
	}
	m.deadLetters.Add(ctx, 1, metric.WithAttributes(attribute.String("family", family)))
}
