package events

import "time"

// NoticeRequestedV1 asks the notifier to mail one notice (a security
// incident, a material change of the privacy policy) to one account. It is
// published by tools/notice, once per account and notice, on the NOTICES
// stream, whose retention covers a whole send at the mail provider's rate
// limit. It carries ids only: the notice's subject and text are in the
// account layer's database (api/notices), the address is looked up by
// account id, so neither the stream nor a dead letter holds an address.
type NoticeRequestedV1 struct {
	V    int       `json:"v"`
	ID   string    `json:"id"` // NoticeEventID: Nats-Msg-Id, the notifier's record id, Resend's Idempotency-Key
	Time time.Time `json:"time"`
	// NoticeID names the notice (its document in api/notices).
	NoticeID  string `json:"notice_id"`
	AccountID string `json:"account_id"`
}

func (e NoticeRequestedV1) EventID() string { return e.ID }
func (e NoticeRequestedV1) EventSubject() (string, error) {
	return Subject(FamilyNoticeRequested, e.AccountID)
}

// NoticeEventID is the id of the mail of notice to account: the same at
// every run of the command, so a notice reaches each account once.
func NoticeEventID(notice, account string) string { return "notice:" + notice + ":" + account }
