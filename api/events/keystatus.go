package events

// Key status changes by an operator (onekeyctl key suspend / restore). The
// operator's tool asks auth, which owns API keys and alone writes KV
// apikeys, over core NATS request/reply (not streamed); only the bus admin
// may ask (pkg/bus/users.go). Auth answers once it has recorded the change
// and written KV apikeys, so the gateway refuses (or admits again) the key
// within the time a KV update takes to reach it. A change is idempotent:
// suspending a suspended key, or restoring an active one, changes nothing
// and answers the key's status.

// SubjectKeyStatus is the request subject: auth answers, the admin asks.
const SubjectKeyStatus = "auth.keys.status"

// Key status actions.
const (
	KeyActionSuspend = "suspend"
	KeyActionRestore = "restore"
)

// KeyStatusRequestV1 asks auth to suspend or restore a key. Actor and
// Reason are recorded on the key (the operator's audit); Reason is
// required to suspend.
type KeyStatusRequestV1 struct {
	V      int    `json:"v"`
	KeyID  string `json:"key_id"`
	Action string `json:"action"` // KeyActionSuspend or KeyActionRestore
	Actor  string `json:"actor"`  // "operator:<name>"
	Reason string `json:"reason,omitempty"`
}

// Key status reply codes (besides "" for success).
const (
	// CodeKeyNotFound: no key with that id.
	CodeKeyNotFound = "key_not_found"
	// CodeKeyRevoked: the key is revoked, which is for good; a revoked key
	// is neither suspended nor restored.
	CodeKeyRevoked = "key_revoked"
	// CodeBadRequest (crypto.go) also answers a malformed request, and
	// CodeUnavailable one auth could not carry out (database, KV).
)

// KeyStatusReplyV1 is auth's answer: the key's status after the request
// (Status), and whether the request changed it (Changed). Code and Error
// say why it was refused or failed.
type KeyStatusReplyV1 struct {
	V         int    `json:"v"`
	KeyID     string `json:"key_id"`
	AccountID string `json:"account_id,omitempty"`
	Status    string `json:"status,omitempty"`
	Changed   bool   `json:"changed"`
	Code      string `json:"code,omitempty"`
	Error     string `json:"error,omitempty"`
}
