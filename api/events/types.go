package events

import (
	"strings"
	"time"

	"github.com/onekey-oss/onekey/api/money"
)

// Event is what every payload type implements so a publisher can route it.
type Event interface {
	// EventID is the stable id, sent as Nats-Msg-Id.
	EventID() string
	// EventSubject is the full subject (family.account).
	EventSubject() (string, error)
}

// UsageRecordedV1 is one request through the gateway: metadata only, never
// content. ID is the gateway's request id. Published once the response has
// ended; the ledger debits the account or uses one of its free requests.
type UsageRecordedV1 struct {
	V                 int          `json:"v"`
	ID                string       `json:"id"`
	Time              time.Time    `json:"time"`
	AccountID         string       `json:"account_id"`
	ProjectID         string       `json:"project_id"`
	KeyID             string       `json:"key_id"`
	Model             string       `json:"model"`
	Provider          string       `json:"provider"`
	Channel           string       `json:"channel,omitempty"`
	InputTokens       int64        `json:"input_tokens"`        // uncached input tokens
	CachedInputTokens int64        `json:"cached_input_tokens"` // input tokens read from the provider's cache
	CacheWriteTokens  int64        `json:"cache_write_tokens,omitempty"`
	OutputTokens      int64        `json:"output_tokens"` // includes reasoning tokens
	ReasoningTokens   int64        `json:"reasoning_tokens,omitempty"`
	CostMicros        money.Micros `json:"cost_micros"`
	LatencyMS         int64        `json:"latency_ms"`
	TTFBMS            int64        `json:"ttfb_ms"`
	Streamed          bool         `json:"streamed"`
	Status            int          `json:"status"`
	// Estimated is true when the provider sent no usage (an upstream that
	// never answered to its end) and the token counts are the gateway's
	// estimate.
	Estimated bool `json:"estimated,omitempty"`
	// Free is the gateway's decision: the request used one of the
	// account's free requests, so the ledger charges it nothing (CostMicros
	// is still what it cost at catalog prices). False: the ledger debits
	// CostMicros.
	Free bool `json:"free,omitempty"`
	// Replica is the gateway instance whose credit lease admitted the
	// request; the ledger counts the cost against that lease.
	Replica string `json:"replica,omitempty"`
	// Charges that are not plain tokens, from the provider's own usage
	// fields, already included in CostMicros.
	CacheWrite1hTokens int64  `json:"cache_write_1h_tokens,omitempty"` // cache writes with a 1-hour TTL (CacheWriteTokens are 5-minute ones)
	WebSearchRequests  int64  `json:"web_search_requests,omitempty"`   // provider-run web searches
	WebFetchRequests   int64  `json:"web_fetch_requests,omitempty"`    // provider-run web fetches
	SearchSources      int64  `json:"search_sources,omitempty"`        // xAI live search sources used
	ServiceTier        string `json:"service_tier,omitempty"`          // the tier the provider billed (OpenAI: default, flex, priority)
	LongContext        bool   `json:"long_context,omitempty"`          // billed at the model's long-context tier
}

func (e UsageRecordedV1) EventID() string { return e.ID }
func (e UsageRecordedV1) EventSubject() (string, error) {
	return Subject(FamilyUsageRecorded, e.AccountID)
}

// Credit kinds carried by CreditPurchasedV1.
const (
	CreditPurchase   = "purchase"    // a paid top-up: positive amount
	CreditRefund     = "refund"      // money returned to the payer: negative amount
	CreditDispute    = "dispute"     // a chargeback opened: negative amount
	CreditDisputeWon = "dispute_won" // a chargeback decided for us: positive amount
)

// CreditPurchasedV1 is a card payment's effect on an account, from payments.
// ID is the Stripe event id. A refund or dispute is a reversing event of the
// same family with a negative amount, never an edit of the original.
type CreditPurchasedV1 struct {
	V            int          `json:"v"`
	ID           string       `json:"id"`
	Time         time.Time    `json:"time"`
	AccountID    string       `json:"account_id"`
	Kind         string       `json:"kind"`
	AmountMicros money.Micros `json:"amount_micros"`
	Source       string       `json:"source"`     // "stripe"
	PaymentID    string       `json:"payment_id"` // Stripe Checkout Session id
}

func (e CreditPurchasedV1) EventID() string { return e.ID }
func (e CreditPurchasedV1) EventSubject() (string, error) {
	return Subject(FamilyCreditPurchased, e.AccountID)
}

// CreditAdjustedV1 is an operator's adjustment, or devstack's labelled dev
// top-up. A positive amount credits, a negative one debits.
type CreditAdjustedV1 struct {
	V            int          `json:"v"`
	ID           string       `json:"id"`
	Time         time.Time    `json:"time"`
	AccountID    string       `json:"account_id"`
	AmountMicros money.Micros `json:"amount_micros"`
	Reason       string       `json:"reason"`
	Actor        string       `json:"actor"` // who made it: "admin:<id>", "devstack"
}

func (e CreditAdjustedV1) EventID() string { return e.ID }
func (e CreditAdjustedV1) EventSubject() (string, error) {
	return Subject(FamilyCreditAdjusted, e.AccountID)
}

// TxConfirmedV1 is an on-chain stablecoin transfer to our deposit address,
// final by the chain's confirmation rule. ID is ChainTxID (eip155:<chain
// id>:<tx hash>:<log index>), so a transfer can be credited once, ever,
// whatever name the chain is configured under; transfers credited before
// chain ids were used keep their TxID (<name>:<tx hash>:<log index>).
type TxConfirmedV1 struct {
	V            int          `json:"v"`
	ID           string       `json:"id"`
	Time         time.Time    `json:"time"`
	AccountID    string       `json:"account_id"`
	ClaimID      string       `json:"claim_id"`
	Chain        string       `json:"chain"`
	TxHash       string       `json:"tx_hash"`
	LogIndex     uint         `json:"log_index"`
	Token        string       `json:"token"` // "USDC", "USDT"
	From         string       `json:"from"`
	To           string       `json:"to"`
	AmountMicros money.Micros `json:"amount_micros"`
	BlockNumber  uint64       `json:"block_number"`
	BlockHash    string       `json:"block_hash"`
	// ChainID is the chain's EIP-155 id (0 on events made before it was
	// carried).
	ChainID uint64 `json:"chain_id,omitempty"`
}

func (e TxConfirmedV1) EventID() string { return e.ID }
func (e TxConfirmedV1) EventSubject() (string, error) {
	return Subject(FamilyTxConfirmed, e.AccountID)
}

// TxID is the id on-chain transfers were credited under before ChainTxID:
// the chain's configured name, the tx hash and the log index. Chainwatcher
// still looks it up, so a transfer credited under it is never credited
// again under its ChainTxID.
func TxID(chain, txHash string, logIndex uint) string {
	return chain + ":" + txHash + ":" + itoa(uint64(logIndex))
}

// ChainTxID is the stable id of an on-chain transfer: the chain by its
// EIP-155 chain id in CAIP-2 form, the lower-case tx hash and the log
// index, e.g. "eip155:8453:0xab…:3". It does not change when an operator
// renames the chain in CRYPTO_CHAINS.
func ChainTxID(chainID uint64, txHash string, logIndex uint) string {
	return "eip155:" + itoa(chainID) + ":" + strings.ToLower(txHash) + ":" + itoa(uint64(logIndex))
}

// TxRejectedV1 says a crypto claim will not be credited, and why.
type TxRejectedV1 struct {
	V         int       `json:"v"`
	ID        string    `json:"id"`
	Time      time.Time `json:"time"`
	AccountID string    `json:"account_id"`
	ClaimID   string    `json:"claim_id"`
	Chain     string    `json:"chain"`
	TxHash    string    `json:"tx_hash"`
	Reason    string    `json:"reason"` // reverted, wrong_token, wrong_recipient, wrong_sender, removed, timeout, ...
}

func (e TxRejectedV1) EventID() string { return e.ID }
func (e TxRejectedV1) EventSubject() (string, error) {
	return Subject(FamilyTxRejected, e.AccountID)
}

// AccountCreatedV1 opens an account in the ledger (with its free requests).
// ID is "account.created:" + account id, so it is applied once.
type AccountCreatedV1 struct {
	V         int       `json:"v"`
	ID        string    `json:"id"`
	Time      time.Time `json:"time"`
	AccountID string    `json:"account_id"`
	// NoFreeRequests is set when the verified address already received
	// free requests once (auth keeps a keyed hash of such addresses, which
	// survives account deletion): the account opens without them. Absent
	// in events published before the field existed, which granted them.
	NoFreeRequests bool `json:"no_free_requests,omitempty"`
}

func (e AccountCreatedV1) EventID() string { return e.ID }
func (e AccountCreatedV1) EventSubject() (string, error) {
	return Subject(FamilyAccountCreated, e.AccountID)
}

// AccountDeletedV1 tells services to remove what they hold of an account's
// personal data. Anonymized money records stay.
type AccountDeletedV1 struct {
	V         int       `json:"v"`
	ID        string    `json:"id"`
	Time      time.Time `json:"time"`
	AccountID string    `json:"account_id"`
}

func (e AccountDeletedV1) EventID() string { return e.ID }
func (e AccountDeletedV1) EventSubject() (string, error) {
	return Subject(FamilyAccountDeleted, e.AccountID)
}

// AccountSettingsV1 changes an account's settings that the ledger applies
// (published by auth when the user changes them). The ledger applies it in
// order with the account's other events; the latest one applied wins.
type AccountSettingsV1 struct {
	V         int       `json:"v"`
	ID        string    `json:"id"`
	Time      time.Time `json:"time"`
	AccountID string    `json:"account_id"`
	// LowBalanceMicros is the balance below which the ledger publishes
	// balance.low (0: never).
	LowBalanceMicros money.Micros `json:"low_balance_micros"`
}

func (e AccountSettingsV1) EventID() string { return e.ID }
func (e AccountSettingsV1) EventSubject() (string, error) {
	return Subject(FamilyAccountSettings, e.AccountID)
}

// CreditAppliedV1 is published by the ledger after a credit (or reversal)
// changed a balance; the notifier mails the receipt. ID is "applied:" + the
// source event id, so a receipt is sent once.
type CreditAppliedV1 struct {
	V             int          `json:"v"`
	ID            string       `json:"id"`
	Time          time.Time    `json:"time"`
	AccountID     string       `json:"account_id"`
	SourceEventID string       `json:"source_event_id"`
	Method        string       `json:"method"` // card, crypto, adjustment
	Kind          string       `json:"kind"`   // purchase, refund, dispute, ...
	AmountMicros  money.Micros `json:"amount_micros"`
	BalanceMicros money.Micros `json:"balance_micros"`
}

func (e CreditAppliedV1) EventID() string { return e.ID }
func (e CreditAppliedV1) EventSubject() (string, error) {
	return Subject(FamilyCreditApplied, e.AccountID)
}

// BalanceLowV1 is published when a balance crosses below the account's
// threshold.
type BalanceLowV1 struct {
	V               int          `json:"v"`
	ID              string       `json:"id"`
	Time            time.Time    `json:"time"`
	AccountID       string       `json:"account_id"`
	BalanceMicros   money.Micros `json:"balance_micros"`
	ThresholdMicros money.Micros `json:"threshold_micros"`
}

func (e BalanceLowV1) EventID() string { return e.ID }
func (e BalanceLowV1) EventSubject() (string, error) {
	return Subject(FamilyBalanceLow, e.AccountID)
}

// PaymentFailedV1 is a card payment that did not go through.
type PaymentFailedV1 struct {
	V            int          `json:"v"`
	ID           string       `json:"id"`
	Time         time.Time    `json:"time"`
	AccountID    string       `json:"account_id"`
	PaymentID    string       `json:"payment_id"`
	AmountMicros money.Micros `json:"amount_micros"`
	Reason       string       `json:"reason"`
}

func (e PaymentFailedV1) EventID() string { return e.ID }
func (e PaymentFailedV1) EventSubject() (string, error) {
	return Subject(FamilyPaymentFailed, e.AccountID)
}

// Mail templates.
const (
	MailMagicLink = "magic_link"
)

// MailRequestedV1 asks the notifier to send a transactional mail. It carries
// an address and template data, never request content; its stream keeps it
// only briefly. Secret data (a magic link's "link", which holds the sign-in
// token) is never in Data but in Sealed, encrypted for the notifier
// (SealMail, OpenMail); a magic_link mail without it is not sent.
type MailRequestedV1 struct {
	V         int               `json:"v"`
	ID        string            `json:"id"`
	Time      time.Time         `json:"time"`
	AccountID string            `json:"account_id"` // NoAccount when none yet
	To        string            `json:"to"`
	Template  string            `json:"template"`
	Data      map[string]string `json:"data,omitempty"`
	Sealed    *SealedV1         `json:"sealed,omitempty"`
}

func (e MailRequestedV1) EventID() string { return e.ID }
func (e MailRequestedV1) EventSubject() (string, error) {
	acc := e.AccountID
	if acc == "" {
		acc = NoAccount
	}
	return Subject(FamilyMailRequested, acc)
}

// DeadLetterV1 records a message a consumer gave up on, with the reason.
// The original payload is kept so an operator can inspect and replay it.
type DeadLetterV1 struct {
	V        int       `json:"v"`
	ID       string    `json:"id"`
	Time     time.Time `json:"time"`
	Consumer string    `json:"consumer"`
	Subject  string    `json:"subject"`
	MsgID    string    `json:"msg_id"`
	Attempts int       `json:"attempts"`
	Reason   string    `json:"reason"`
	Payload  []byte    `json:"payload"`
}

func (e DeadLetterV1) EventID() string { return e.ID }
func (e DeadLetterV1) EventSubject() (string, error) {
	return Subject(FamilyDeadLetter, AccountOf(e.Subject))
}

func itoa(v uint64) string {
	if v == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for v > 0 {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return string(b[i:])
}
