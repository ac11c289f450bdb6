package events

import (
	"fmt"
	"strings"
	"time"
)

// Subject families. The full subject is Family + "." + account id.
const (
	FamilyUsageRecorded   = "usage.recorded"
	FamilyCreditPurchased = "credit.purchased"
	FamilyCreditAdjusted  = "credit.adjusted"
	FamilyTxConfirmed     = "tx.confirmed"
	FamilyTxRejected      = "tx.rejected"
	FamilyAccountCreated  = "account.created"
	FamilyAccountDeleted  = "account.deleted"
	FamilyAccountSettings = "account.settings"
	FamilyCreditApplied   = "credit.applied"
	FamilyBalanceLow      = "balance.low"
	FamilyPaymentFailed   = "payment.failed"
	FamilyMailRequested   = "mail.requested"
	FamilyNoticeRequested = "notice.requested"
	FamilyDeadLetter      = "deadletter"
)

// NoAccount is the last subject token of events that concern no account yet,
// such as the magic link mailed to an address that may not have one.
const NoAccount = "none"

// Streams. Each captures whole families; see pkg/bus for their settings.
const (
	StreamUsage      = "USAGE"      // usage.recorded.>
	StreamBilling    = "BILLING"    // credit.purchased.>, credit.adjusted.>, tx.confirmed.>
	StreamAccounts   = "ACCOUNTS"   // account.created.>, account.deleted.>, account.settings.>
	StreamNotify     = "NOTIFY"     // credit.applied.>, balance.low.>, payment.failed.>, tx.rejected.>
	StreamMail       = "MAIL"       // mail.requested.> (short retention: it carries sign-in links)
	StreamNotices    = "NOTICES"    // notice.requested.> (long enough for a send to every user)
	StreamDeadLetter = "DEADLETTER" // deadletter.>
)

// StreamSubjects lists the subject filters each stream captures.
func StreamSubjects(stream string) []string {
	switch stream {
	case StreamUsage:
		return []string{FamilyUsageRecorded + ".>"}
	case StreamBilling:
		return []string{FamilyCreditPurchased + ".>", FamilyCreditAdjusted + ".>", FamilyTxConfirmed + ".>"}
	case StreamAccounts:
		return []string{FamilyAccountCreated + ".>", FamilyAccountDeleted + ".>", FamilyAccountSettings + ".>"}
	case StreamNotify:
		return []string{FamilyCreditApplied + ".>", FamilyBalanceLow + ".>", FamilyPaymentFailed + ".>", FamilyTxRejected + ".>"}
	case StreamMail:
		return []string{FamilyMailRequested + ".>"}
	case StreamNotices:
		return []string{FamilyNoticeRequested + ".>"}
	case StreamDeadLetter:
		return []string{FamilyDeadLetter + ".>"}
	}
	return nil
}

// StreamOf names the stream that captures the subjects of family ("" for
// a family no stream captures, such as a request/reply subject).
func StreamOf(family string) string {
	for _, name := range Streams() {
		for _, subj := range StreamSubjects(name) {
			if subj == family+".>" {
				return name
			}
		}
	}
	return ""
}

// Streams lists every stream name.
func Streams() []string {
	return []string{StreamUsage, StreamBilling, StreamAccounts, StreamNotify, StreamMail, StreamNotices, StreamDeadLetter}
}

// Durable consumer names (part of the API: never rename one).
const (
	ConsumerLedgerUsage      = "ledger-usage"      // on USAGE
	ConsumerLedgerBilling    = "ledger-billing"    // on BILLING
	ConsumerLedgerAccounts   = "ledger-accounts"   // on ACCOUNTS
	ConsumerNotifier         = "notifier"          // on NOTIFY
	ConsumerNotifierMail     = "notifier-mail"     // on MAIL
	ConsumerNotifierNotices  = "notifier-notices"  // on NOTICES
	ConsumerPaymentsTx       = "payments-tx"       // on NOTIFY, filtered to tx.rejected.> (claim status)
	ConsumerPaymentsAccounts = "payments-accounts" // on ACCOUNTS, filtered to account.deleted.> (erasure)
)

// ConsumerStream tells which stream a durable consumer reads.
func ConsumerStream(consumer string) string {
	if base, _, _, ok := ParseLedgerConsumer(consumer); ok {
		consumer = base // a partition's consumer (partition.go)
	}
	switch consumer {
	case ConsumerLedgerUsage:
		return StreamUsage
	case ConsumerLedgerBilling:
		return StreamBilling
	case ConsumerLedgerAccounts, ConsumerPaymentsAccounts:
		return StreamAccounts
	case ConsumerNotifier, ConsumerPaymentsTx:
		return StreamNotify
	case ConsumerNotifierMail:
		return StreamMail
	case ConsumerNotifierNotices:
		return StreamNotices
	}
	return ""
}

// Consumers lists every durable consumer name.
func Consumers() []string {
	return []string{ConsumerLedgerUsage, ConsumerLedgerBilling, ConsumerLedgerAccounts, ConsumerNotifier, ConsumerNotifierMail, ConsumerNotifierNotices, ConsumerPaymentsTx, ConsumerPaymentsAccounts}
}

// KV buckets.
const (
	// BucketAPIKeys maps the hex SHA-256 of an API key to an APIKey value.
	// Written by auth only, read by the gateway.
	BucketAPIKeys = "apikeys"
	// BucketBalances maps an account id to a Balance value. Written by the
	// ledger only, read by the gateway.
	BucketBalances = "balances"
	// BucketLeases holds single-writer leases (pkg/bus.Lease): key = what
	// is held (LeaseLedger), value = the holder. Its TTL is the lease's.
	BucketLeases = "leases"
	// BucketResponses maps the id of a response stored at a provider (the
	// Responses API with store on) to the account that created it
	// (StoredResponseV1). Written and read by the gateway; its TTL is the
	// providers' retention of stored responses, ResponsesRetention.
	BucketResponses = "responses"
	// BucketAssistant holds the dashboard assistant's shared counters
	// (written by auth only, with revision-checked updates): questions per
	// account per hour and the cost spent per UTC day, in micro-USD. Never
	// a message of a conversation. Its TTL drops past windows and days.
	BucketAssistant = "assistant"
)

// ResponsesRetention is how long OpenAI and xAI keep a stored response.
const ResponsesRetention = 30 * 24 * time.Hour

// LeaseLedger is the lease the ledger's writer holds while it applies
// events: one writer at a time, even during a rollout. With partitions
// each partition has its own (LedgerLease).
const LeaseLedger = "ledger"

// Request/reply subjects (core NATS, not streamed).
const (
	// SubjectCheckoutCreate asks payments for a Stripe Checkout Session.
	SubjectCheckoutCreate = "payments.checkout.create"
)

// Subject returns family + "." + account, refusing an account id that is not
// a single NATS token (it would break stream capture and partitioning).
func Subject(family, account string) (string, error) {
	if err := ValidToken(account); err != nil {
		return "", fmt.Errorf("subject for %s: %w", family, err)
	}
	return family + "." + account, nil
}

// ValidToken reports whether s can be one token of a NATS subject.
func ValidToken(s string) error {
	if s == "" {
		return fmt.Errorf("empty subject token")
	}
	if strings.ContainsAny(s, ". *>\t\r\n") {
		return fmt.Errorf("subject token %q contains one of '.', ' ', '*', '>' or a control character", s)
	}
	return nil
}

// AccountOf returns the last token of a subject: the account id.
func AccountOf(subject string) string {
	if i := strings.LastIndexByte(subject, '.'); i >= 0 {
		return subject[i+1:]
	}
	return subject
}
