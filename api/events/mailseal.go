package events

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Sign-in links do not sit readable on the bus: auth seals the secret part
// of a mail's template data (a magic link's "link", which carries the
// token) with a key that only auth and the notifier hold, and the notifier
// opens it just before it renders the mail. Whoever else reads the MAIL
// stream (an operator, a backup, a dead letter) sees the address and the
// link's expiry, not the link.
//
// The sealed form, version 1: AES-256-GCM with a random 96-bit nonce over
// the JSON of the secret data (a map of strings); the associated data binds
// it to its mail (id, recipient, template, account), so a sealed link moved
// into another mail, to another address, does not open. KeyID names the key
// (a hash, not the key) so that a notifier can tell "sealed with a key I do
// not hold" (a rotation done in the wrong order) from "tampered with".

// MailSealKeyBytes is the length of a mail seal key: 32 bytes (AES-256),
// written as standard base64 (`openssl rand -base64 32`).
const MailSealKeyBytes = 32

// SealedV1 is a mail's secret template data, encrypted for the notifier.
type SealedV1 struct {
	V          int    `json:"v"`   // 1: AES-256-GCM
	KeyID      string `json:"kid"` // MailSealKey.ID of the key it was sealed with
	Nonce      []byte `json:"nonce"`
	Ciphertext []byte `json:"ct"` // with GCM's tag
}

// Errors of OpenMail. Both mean the mail cannot be sent as asked.
var (
	// ErrMailKeyUnknown: sealed with a key none of the given ones is.
	ErrMailKeyUnknown = errors.New("mail sealed with a key not held here")
	// ErrMailSealBroken: the key is held but the seal does not open (the
	// message was altered, or moved to another mail or recipient), or the
	// sealed form is not one this version knows.
	ErrMailSealBroken = errors.New("sealed mail data does not open")
)

// MailSealKey is a parsed mail seal key. The zero value holds no key.
type MailSealKey struct {
	id   string
	aead cipher.AEAD
}

// ParseMailSealKey reads a key written as standard base64 of 32 bytes. Its
// error never contains the key.
func ParseMailSealKey(s string) (MailSealKey, error) {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return MailSealKey{}, errors.New("not standard base64 (make one with `openssl rand -base64 32`)")
	}
	if len(raw) != MailSealKeyBytes {
		return MailSealKey{}, fmt.Errorf("%d bytes, want %d (make one with `openssl rand -base64 32`)", len(raw), MailSealKeyBytes)
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return MailSealKey{}, fmt.Errorf("mail seal key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return MailSealKey{}, fmt.Errorf("mail seal key: %w", err)
	}
	sum := sha256.Sum256(append([]byte("onekey mail seal key id\x00"), raw...))
	return MailSealKey{id: hex.EncodeToString(sum[:6]), aead: aead}, nil
}

// NewMailSealKey returns a fresh random key in its written form (devstack,
// tests).
func NewMailSealKey() string {
	var b [MailSealKeyBytes]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	return base64.StdEncoding.EncodeToString(b[:])
}

// ID names the key without revealing it ("" for the zero key).
func (k MailSealKey) ID() string { return k.id }

// IsZero reports whether k holds no key.
func (k MailSealKey) IsZero() bool { return k.aead == nil }

// SealMail returns ev with secret sealed into ev.Sealed. The secret names
// must not also be in ev.Data in clear. ev's ID, To, Template and AccountID
// must be final: they are bound to the seal.
func (k MailSealKey) SealMail(ev MailRequestedV1, secret map[string]string) (MailRequestedV1, error) {
	if k.IsZero() {
		return ev, errors.New("seal mail: no key")
	}
	for name := range secret {
		if _, clear := ev.Data[name]; clear {
			return ev, fmt.Errorf("seal mail: %q is also in the clear data", name)
		}
	}
	plain, err := json.Marshal(secret)
	if err != nil {
		return ev, fmt.Errorf("seal mail: %w", err)
	}
	nonce := make([]byte, k.aead.NonceSize())
	_, _ = rand.Read(nonce)
	ev.Sealed = &SealedV1{V: 1, KeyID: k.id, Nonce: nonce, Ciphertext: k.aead.Seal(nil, nonce, plain, mailAAD(ev))}
	return ev, nil
}

// OpenMail returns the data of ev with its sealed part opened and merged in,
// trying each key whose ID the seal names (the current key and, during a
// rotation, the previous one). A mail without a sealed part returns its
// clear data. Errors wrap ErrMailKeyUnknown or ErrMailSealBroken and never
// contain the data.
func OpenMail(ev MailRequestedV1, keys ...MailSealKey) (map[string]string, error) {
	data := make(map[string]string, len(ev.Data)+1)
	for k, v := range ev.Data {
		data[k] = v
	}
	s := ev.Sealed
	if s == nil {
		return data, nil
	}
	if s.V != 1 {
		return nil, fmt.Errorf("%w: sealed form v%d", ErrMailSealBroken, s.V)
	}
	for _, k := range keys {
		if k.IsZero() || k.id != s.KeyID {
			continue
		}
		if len(s.Nonce) != k.aead.NonceSize() {
			return nil, fmt.Errorf("%w: nonce of %d bytes", ErrMailSealBroken, len(s.Nonce))
		}
		plain, err := k.aead.Open(nil, s.Nonce, s.Ciphertext, mailAAD(ev))
		if err != nil {
			return nil, fmt.Errorf("%w: key %s", ErrMailSealBroken, s.KeyID)
		}
		var secret map[string]string
		if err := json.Unmarshal(plain, &secret); err != nil {
			return nil, fmt.Errorf("%w: sealed data is not a map of strings", ErrMailSealBroken)
		}
		for name, v := range secret {
			data[name] = v
		}
		return data, nil
	}
	return nil, fmt.Errorf("%w: key %q", ErrMailKeyUnknown, s.KeyID)
}

// mailAAD binds a seal to its mail.
func mailAAD(ev MailRequestedV1) []byte {
	return []byte(strings.Join([]string{"onekey mail.requested sealed v1", ev.ID, ev.To, ev.Template, ev.AccountID}, "\x00"))
}
