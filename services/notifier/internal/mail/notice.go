package mail

import (
	"fmt"
	"strings"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/notices"
)

// KindNotice is a notice to every user (tools/notice): a security incident
// or a material change of the privacy policy.
const KindNotice = "notice"

// Notice renders a notice.requested event: the notice's subject and plain
// text as written by the operator (the HTML part shows the same text, one
// paragraph per blank-line-separated block, escaped).
func (r *Renderer) Notice(ev events.NoticeRequestedV1, n notices.Notice, to string) (Message, error) {
	if err := checkAddress(to); err != nil {
		return Message{}, err
	}
	text := strings.TrimSpace(strings.ReplaceAll(n.Text, "\r\n", "\n"))
	if strings.TrimSpace(n.Subject) == "" || text == "" {
		return Message{}, fmt.Errorf("%w: notice %s has no subject or no text", ErrInvalid, n.ID)
	}
	var paras []string
	for _, p := range strings.Split(text, "\n\n") {
		if p = strings.TrimSpace(p); p != "" {
			paras = append(paras, p)
		}
	}
	m, err := r.render(KindNotice, struct {
		Site          Site
		Subject, Text string
		Paragraphs    []string
	}{r.site, n.Subject, text, paras})
	if err != nil {
		return Message{}, err
	}
	m.ID, m.AccountID, m.To = ev.ID, ev.AccountID, to
	m.Time = ev.Time.UTC()
	return m, nil
}
