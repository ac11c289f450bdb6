package bus

import (
	"slices"
	"sort"

	"github.com/onekey-oss/onekey/api/events"
)

// The bus's users: one per service, and the admin that declares the
// topology (tools/busadmin, devstack, the tests' own drivers). A user's name
// is also its inbox prefix ("_INBOX_<user>"), so no service can read
// another's replies.
const (
	UserAdmin        = "admin"
	UserGateway      = "gateway"
	UserLedger       = "ledger"
	UserPayments     = "payments"
	UserChainwatcher = "chainwatcher"
	UserNotifier     = "notifier"
	UserAuth         = "auth"
	// UserNotice is tools/notice's: it may only publish notice.requested.
	UserNotice = "notice"
)

// subjectGeneration is the gateway's generation lookup (request/reply to
// the ledger): "ledger.generation.<account>".
const subjectGeneration = events.FamilyGeneration + ".*"

// Access is what one user may do on the bus, as data. Permissions expands
// it into the NATS subjects, JetStream API ones included, that the server
// enforces. Nothing outside it is allowed.
type Access struct {
	// Publish: subjects it publishes events on (into a stream).
	Publish []string
	// Request: core request subjects it asks on (replies come to its own
	// inbox).
	Request []string
	// RequestDeferred: core request subjects it asks on with
	// Bus.RequestDeferred, whose answers come late, to its deferred inbox
	// (DeferredInbox), which it subscribes to.
	RequestDeferred []string
	// Serve: core request subjects it answers (it subscribes to them and
	// may publish to each request's reply subject, once, on the
	// connection that received the request).
	Serve []string
	// DeferredRepliesTo: users whose deferred requests it answers: it may
	// publish to their deferred inboxes from any connection.
	DeferredRepliesTo []string
	// Consume: durable consumers (api/events names) it binds to, pulls
	// from and acks on.
	Consume []string
	// ConsumeAnyOn: streams on whose every durable consumer it may do the
	// same. The ledger's: its partitions' consumers are named after the
	// partition count (events.LedgerConsumer), which a static server
	// configuration cannot list; only the ledger reads USAGE and BILLING,
	// and on ACCOUNTS this also lets it pull from payments' consumer,
	// which a process that writes every balance does not need to be
	// trusted less than.
	ConsumeAnyOn []string
	// WaitStreams: streams whose existence it waits for before it is ready
	// (it reads their info, nothing else): the streams it publishes into,
	// for a service that binds to no consumer or bucket (chainwatcher),
	// which would otherwise say that the topology is declared.
	WaitStreams []string
	// ReadKV: buckets it reads and watches.
	ReadKV []string
	// WriteKV: buckets it writes (and reads and watches).
	WriteKV []string
	// All: every subject, the JetStream API included (the admin only).
	All bool
}

// deadletter is what every consumer publishes a poison message to.
const deadletter = events.FamilyDeadLetter + ".>"

// UserAccess is every user's access: the one place that says who may do
// what on the bus. Adding a subject, a request, a consumer or a bucket to a
// service is one line here (a new stream, consumer or bucket is declared in
// topology.go). The server configurations are generated from it:
// the embedded server's (devstack, tests) directly, deployments/nats's and
// the k8s one's by `go run ./tools/busadmin nats-config` (a test keeps the
// committed file equal to it).
func UserAccess() map[string]Access {
	return map[string]Access{
		UserAdmin: {All: true},
		// The internet-facing router: usage out, keys and balances in,
		// leases and generations from the ledger, its own stored-response
		// ids (GATEWAY_RESPONSES_STORE); nothing else.
		UserGateway: {
			Publish: []string{events.FamilyUsageRecorded + ".>"},
			Request: []string{subjectGeneration},
			// The ledger answers a lease request once its batch is
			// written: deferred (DeferredInbox).
			RequestDeferred: []string{events.FamilyLease + ".*"},
			ReadKV:          []string{events.BucketAPIKeys, events.BucketBalances},
			WriteKV:         []string{events.BucketResponses},
		},
		UserLedger: {
			Publish:           []string{events.FamilyCreditApplied + ".>", events.FamilyBalanceLow + ".>", deadletter},
			Serve:             []string{events.FamilyLease + ".*", subjectGeneration},
			DeferredRepliesTo: []string{UserGateway},
			ConsumeAnyOn:      events.LedgerStreams(),
			WriteKV:           []string{events.BucketBalances, events.BucketLeases},
		},
		UserPayments: {
			Publish: []string{events.FamilyCreditPurchased + ".>", events.FamilyPaymentFailed + ".>", deadletter},
			Serve: []string{events.SubjectCheckoutCreate, events.SubjectCryptoInfo, events.SubjectWalletNonce,
				events.SubjectWalletLink, events.SubjectCryptoClaim, events.SubjectCryptoStatus},
			Consume: []string{events.ConsumerPaymentsTx, events.ConsumerPaymentsAccounts},
		},
		UserChainwatcher: {
			Publish:     []string{events.FamilyTxConfirmed + ".>", events.FamilyTxRejected + ".>"},
			WaitStreams: []string{events.StreamOf(events.FamilyTxConfirmed), events.StreamOf(events.FamilyTxRejected)},
		},
		UserNotifier: {
			Publish: []string{deadletter},
			Consume: []string{events.ConsumerNotifier, events.ConsumerNotifierMail, events.ConsumerNotifierNotices},
		},
		// Auth answers the operator's key suspensions (SubjectKeyStatus),
		// which only the admin (onekeyctl) may ask: no service has it in
		// Request.
		UserAuth: {
			Publish: []string{events.FamilyAccountCreated + ".>", events.FamilyAccountDeleted + ".>",
				events.FamilyAccountSettings + ".>", events.FamilyMailRequested + ".>"},
			Request: []string{events.SubjectCheckoutCreate, events.SubjectCryptoInfo, events.SubjectWalletNonce,
				events.SubjectWalletLink, events.SubjectCryptoClaim, events.SubjectCryptoStatus},
			Serve:   []string{events.SubjectKeyStatus},
			WriteKV: []string{events.BucketAPIKeys, events.BucketAssistant},
		},
		// tools/notice, run by an operator: one notice.requested per user,
		// nothing else (it reads and writes the database, not the bus).
		UserNotice: {
			Publish: []string{events.FamilyNoticeRequested + ".>"},
		},
	}
}

// Users lists the user names, sorted.
func Users() []string {
	var out []string
	for u := range UserAccess() {
		out = append(out, u)
	}
	sort.Strings(out)
	return out
}

// InboxPrefix is the inbox prefix of user's connection: its replies (and
// JetStream's acks and deliveries to it) arrive under InboxPrefix + ".".
func InboxPrefix(user string) string { return "_INBOX_" + user }

// Permissions are the subjects a user may publish and subscribe to, as
// the NATS server enforces them.
type Permissions struct {
	Publish   []string
	Subscribe []string
	// Responses: it may publish once to the reply subject of a request it
	// received (the requester's inbox).
	Responses bool
}

// Permissions expands a into NATS subjects for user. KV bucket b is stream
// KV_b with subjects $KV.b.>; a durable consumer d on stream s is bound
// with $JS.API.CONSUMER.INFO.s.d, pulled with ...MSG.NEXT.s.d and acked on
// $JS.ACK.s.d.>.
//
// What it does not stop: a reader of a bucket may create consumers on that
// bucket's stream (a KV watch is one), and a push consumer's delivery
// subject is in the request body, which subject permissions cannot see. The
// consumers' decoding of every event bounds what such a delivery could do.
func (a Access) Permissions(user string) Permissions {
	if a.All {
		return Permissions{Publish: []string{">"}, Subscribe: []string{">"}}
	}
	p := Permissions{Subscribe: []string{InboxPrefix(user) + ".>"}}
	p.Publish = append(p.Publish, a.Publish...)
	p.Publish = append(p.Publish, a.Request...)
	p.Publish = append(p.Publish, a.RequestDeferred...)
	if len(a.RequestDeferred) > 0 {
		p.Subscribe = append(p.Subscribe, DeferredInbox(user)+".>")
	}
	p.Subscribe = append(p.Subscribe, a.Serve...)
	p.Responses = len(a.Serve) > 0
	for _, u := range a.DeferredRepliesTo {
		p.Publish = append(p.Publish, DeferredInbox(u)+".>")
	}
	consume := func(s, d string) {
		p.Publish = append(p.Publish,
			"$JS.API.CONSUMER.INFO."+s+"."+d,
			"$JS.API.CONSUMER.MSG.NEXT."+s+"."+d,
			"$JS.ACK."+s+"."+d+".>")
	}
	for _, d := range a.Consume {
		consume(events.ConsumerStream(d), d)
	}
	for _, s := range a.WaitStreams {
		p.Publish = append(p.Publish, "$JS.API.STREAM.INFO."+s)
	}
	for _, s := range a.ConsumeAnyOn {
		consume(s, "*")
	}
	kv := func(b string, write bool) {
		s := "KV_" + b
		p.Publish = append(p.Publish,
			"$JS.API.STREAM.INFO."+s,
			"$JS.API.STREAM.MSG.GET."+s,
			"$JS.API.DIRECT.GET."+s+".>",
			"$JS.API.CONSUMER.CREATE."+s,
			"$JS.API.CONSUMER.CREATE."+s+".>",
			"$JS.API.CONSUMER.DELETE."+s+".>",
			"$JS.FC."+s+".>")
		if write {
			p.Publish = append(p.Publish, "$KV."+b+".>")
		}
	}
	for _, b := range a.ReadKV {
		kv(b, false)
	}
	for _, b := range a.WriteKV {
		kv(b, true)
	}
	p.Publish = compact(p.Publish)
	p.Subscribe = compact(p.Subscribe)
	return p
}

func compact(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}
