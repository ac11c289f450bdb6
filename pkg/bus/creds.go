package bus

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/nats-io/nkeys"
)

// Credentials are the bus users' nkey seeds, by user. A service's
// credentials file (NATS_CREDS_FILE) holds its seed: the server knows only
// the public key (a static configuration), the seed never leaves the
// service. The file is the seed on one line, after comment lines starting
// with '#'; `nk -gen user` makes one too.
type Credentials map[string][]byte

// CredsExt is the file extension of a credentials file ("gateway.nk").
const CredsExt = ".nk"

// NewCredentials makes a fresh seed for every user of UserAccess.
func NewCredentials() (Credentials, error) {
	c := Credentials{}
	for _, u := range Users() {
		kp, err := nkeys.CreateUser()
		if err != nil {
			return nil, fmt.Errorf("bus: new nkey for %s: %w", u, err)
		}
		seed, err := kp.Seed()
		if err != nil {
			return nil, fmt.Errorf("bus: nkey seed for %s: %w", u, err)
		}
		c[u] = seed
	}
	return c, nil
}

// PublicKeys returns every user's public nkey (what the server's
// configuration names).
func (c Credentials) PublicKeys() (map[string]string, error) {
	out := map[string]string{}
	for u, seed := range c {
		kp, err := nkeys.FromSeed(seed)
		if err != nil {
			return nil, fmt.Errorf("bus: credentials of %s: %w", u, err)
		}
		pub, err := kp.PublicKey()
		if err != nil {
			return nil, fmt.Errorf("bus: credentials of %s: %w", u, err)
		}
		out[u] = pub
	}
	return out, nil
}

// CredsFile is the path of user's credentials file in dir.
func CredsFile(dir, user string) string { return filepath.Join(dir, user+CredsExt) }

// WriteFiles writes one credentials file per user into dir (mode 0600),
// named after the user ("gateway.nk").
func (c Credentials) WriteFiles(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("bus: credentials dir: %w", err)
	}
	for u, seed := range c {
		body := fmt.Sprintf("# onekey bus credentials of user %q: an nkey seed. Keep it secret.\n%s\n", u, seed)
		if err := os.WriteFile(CredsFile(dir, u), []byte(body), 0o600); err != nil {
			return fmt.Errorf("bus: write credentials of %s: %w", u, err)
		}
	}
	return nil
}

// LoadOrCreateCredentials reads every user's credentials file from dir and
// makes (and writes) the missing ones, so a restart keeps the same keys.
func LoadOrCreateCredentials(dir string) (Credentials, error) {
	fresh, err := NewCredentials()
	if err != nil {
		return nil, err
	}
	c := Credentials{}
	missing := Credentials{}
	for _, u := range Users() {
		seed, err := ReadSeed(CredsFile(dir, u))
		switch {
		case err == nil:
			c[u] = seed
		case errors.Is(err, fs.ErrNotExist):
			c[u], missing[u] = fresh[u], fresh[u]
		default:
			return nil, err
		}
	}
	if err := missing.WriteFiles(dir); err != nil {
		return nil, err
	}
	return c, nil
}

// ReadSeed reads the nkey seed of a credentials file.
func ReadSeed(path string) ([]byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("bus: credentials file: %w", err)
	}
	for line := range strings.Lines(string(raw)) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if _, err := nkeys.FromSeed([]byte(line)); err != nil {
			return nil, fmt.Errorf("bus: credentials file %s: not an nkey seed", path)
		}
		return []byte(line), nil
	}
	return nil, fmt.Errorf("bus: credentials file %s: no nkey seed in it", path)
}
