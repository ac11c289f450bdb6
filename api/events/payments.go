package events

import "github.com/onekey-oss/onekey/api/money"

// CheckoutRequestV1 is sent by the account API to payments on
// SubjectCheckoutCreate (NATS request/reply) to start a card top-up.
type CheckoutRequestV1 struct {
	V            int          `json:"v"`
	AccountID    string       `json:"account_id"`
	Email        string       `json:"email,omitempty"` // prefills Checkout
	AmountMicros money.Micros `json:"amount_micros"`
	SuccessURL   string       `json:"success_url"`
	CancelURL    string       `json:"cancel_url"`
}

// CheckoutReplyV1 answers a CheckoutRequestV1: the Checkout URL to send the
// browser to, or an error a person can read (Code is machine-readable:
// "amount_out_of_range", "unavailable", ...).
type CheckoutReplyV1 struct {
	V         int    `json:"v"`
	URL       string `json:"url,omitempty"`
	SessionID string `json:"session_id,omitempty"`
	Code      string `json:"code,omitempty"`
	Error     string `json:"error,omitempty"`
}
