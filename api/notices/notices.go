// Package notices is the contract between tools/notice, which sends a notice
// to every user, and the notifier, which mails it: the documents of the
// account layer's database that hold a notice and each account's place in
// its send.
//
// A notice is written once (a unique insert of its id; running the command
// again with the same id and other content is refused), so every mail of a
// notice renders the same. The notifier only reads it.
package notices

import "time"

// Collections in the account layer's database (MONGODB_DB).
const (
	// CollNotices holds one Notice per notice id.
	CollNotices = "notices"
	// CollDeliveries holds one Delivery per (notice, account): inserted
	// (unique _id) before the account's notice.requested is published,
	// marked published after the bus acked it. A run after a crash
	// publishes again what is not marked (the event id makes that safe)
	// and skips what is.
	CollDeliveries = "notice_deliveries"
)

// Notice is one notice: the mail's subject and plain text. No address.
type Notice struct {
	ID        string    `bson:"_id"`
	Subject   string    `bson:"subject"`
	Text      string    `bson:"text"`
	CreatedAt time.Time `bson:"created_at"`
}

// Delivery states.
const (
	StateQueued    = "queued"    // recorded; its event may or may not be on the bus
	StatePublished = "published" // the bus acked its event
)

// Delivery is one account's place in the send of a notice. No address.
type Delivery struct {
	ID          string     `bson:"_id"` // events.NoticeEventID(notice, account)
	NoticeID    string     `bson:"notice_id"`
	AccountID   string     `bson:"account_id"`
	State       string     `bson:"state"`
	CreatedAt   time.Time  `bson:"created_at"`
	PublishedAt *time.Time `bson:"published_at,omitempty"`
}
