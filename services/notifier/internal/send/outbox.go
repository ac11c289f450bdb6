package send

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/onekey-oss/onekey/services/notifier/internal/mail"
)

// Outbox "sends" a mail by writing it as an RFC 5322 message (<id>.eml,
// text and HTML alternatives) into a folder, and saying so on a console,
// with the sign-in link of a magic-link mail, so sign-in works on a machine
// without a mail provider. For devstack only: the files hold the mails'
// content, links included.
//
// A mail's file name comes from its event id and is replaced atomically, so
// a repeated send leaves one file. It is safe for concurrent use.
type Outbox struct {
	dir     string
	from    string
	mu      sync.Mutex // serializes console lines
	console io.Writer
}

// NewOutbox creates dir if needed. A nil console discards.
func NewOutbox(dir, from string, console io.Writer) (*Outbox, error) {
	if dir == "" {
		return nil, fmt.Errorf("outbox: no folder")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	if console == nil {
		console = io.Discard
	}
	if from == "" {
		from = "onekey <noreply@localhost>"
	}
	return &Outbox{dir: dir, from: from, console: console}, nil
}

// Send writes m to <dir>/<id>.eml and returns "outbox:<file name>".
func (o *Outbox) Send(_ context.Context, m mail.Message) (string, error) {
	name := fileName(m.ID) + ".eml"
	path := filepath.Join(o.dir, name)
	tmp, err := os.CreateTemp(o.dir, ".tmp-*")
	if err != nil {
		return "", fmt.Errorf("outbox: %w", err)
	}
	defer os.Remove(tmp.Name()) // after the rename, a no-op
	if _, err := tmp.Write(o.message(m)); err != nil {
		tmp.Close()
		return "", fmt.Errorf("outbox: write %s: %w", name, err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("outbox: write %s: %w", name, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", fmt.Errorf("outbox: %w", err)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	fmt.Fprintf(o.console, "mail to %s: %q (%s)\n", m.To, m.Subject, path)
	if m.Link != "" {
		fmt.Fprintf(o.console, "  sign-in link: %s\n", m.Link)
	}
	return "outbox:" + name, nil
}

// fileName makes an event id safe as a file name; ids that had to be
// changed get a hash suffix so two ids never share a file.
func fileName(id string) string {
	safe := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			return r
		}
		return '_'
	}, id)
	if safe == id && len(id) <= 100 {
		return id
	}
	sum := sha256.Sum256([]byte(id))
	if len(safe) > 80 {
		safe = safe[:80]
	}
	return safe + "-" + hex.EncodeToString(sum[:6])
}

func (o *Outbox) message(m mail.Message) []byte {
	sum := sha256.Sum256([]byte(m.ID))
	boundary := "onekey-" + hex.EncodeToString(sum[:12])
	date := m.Time
	if date.IsZero() {
		date = time.Unix(0, 0).UTC()
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: %s\r\n", o.from)
	fmt.Fprintf(&b, "To: %s\r\n", m.To)
	fmt.Fprintf(&b, "Subject: %s\r\n", mime.QEncoding.Encode("utf-8", m.Subject))
	fmt.Fprintf(&b, "Date: %s\r\n", date.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <%s@onekey.devstack>\r\n", fileName(m.ID))
	fmt.Fprintf(&b, "X-Onekey-Kind: %s\r\n", m.Kind)
	b.WriteString("MIME-Version: 1.0\r\n")
	fmt.Fprintf(&b, "Content-Type: multipart/alternative; boundary=%q\r\n\r\n", boundary)
	for _, part := range []struct{ ctype, body string }{{"text/plain", m.Text}, {"text/html", m.HTML}} {
		fmt.Fprintf(&b, "--%s\r\n", boundary)
		fmt.Fprintf(&b, "Content-Type: %s; charset=utf-8\r\n", part.ctype)
		b.WriteString("Content-Transfer-Encoding: quoted-printable\r\n\r\n")
		qp := quotedprintable.NewWriter(&b)
		_, _ = qp.Write([]byte(strings.ReplaceAll(part.body, "\n", "\r\n")))
		_ = qp.Close()
		b.WriteString("\r\n")
	}
	fmt.Fprintf(&b, "--%s--\r\n", boundary)
	return b.Bytes()
}
