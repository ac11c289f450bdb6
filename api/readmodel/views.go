package readmodel

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The dashboard's read models: documents the ledger keeps so that a page
// reads an account's last 90 days of usage and its payments by _id only.
//
// Why they exist beside the rollups and the journal: on the embedded
// FerretDB (devstack, tests) every query other than _id equality decodes
// the whole collection, and even an _id lookup has SQLite parse the JSON of
// every document of the collection. So these documents are few, found by
// _id, and carry their rows packed in one binary field (EncodeDayGroups,
// EncodePayments): SQLite skips over it as one string instead of parsing
// dozens of nested documents (measured: 90 lookups 2.3 s nested, 75 ms
// packed). On MongoDB the same reads are plain primary-key lookups.
//
// The ledger writes a day's document, then the account document whose
// UsageDays names the day with the sequence number of the last usage entry
// folded into it; a reader that has a day cached with that number need not
// read it again. Payments work alike with PaymentsSeq.
const (
	CollUsageDays = "usage_days"
	CollPayments  = "account_payments"
)

// ReadModelsVersion is the value of Account.ReadModels once the ledger
// keeps UsageDays, PaymentsSeq and the documents they point to for the
// account. An account without it (written by an older ledger, before its
// start-up backfill) must be read from the rollups and the journal.
const ReadModelsVersion = 1

// UsageDaysKept is how many UTC days (today included) UsageDays lists and
// usage_days documents are kept: the dashboard shows at most 90, with two
// days' slack for clocks that disagree.
const UsageDaysKept = 92

// PaymentsKept is how many payments (newest first) a payments document
// holds.
const PaymentsKept = 200

// UsageDayID is the _id of an account's document for a UTC day.
func UsageDayID(accountID, day string) string { return accountID + "|" + day }

// UsageDay is one document of "usage_days": an account's usage on one UTC
// day, one row per (model, key, project), packed by EncodeDayGroups.
type UsageDay struct {
	ID        string `bson:"_id"`
	AccountID string `bson:"account_id"`
	Day       string `bson:"day"`
	// Seq is the account's sequence number of the last usage entry folded
	// in: the ledger folds an entry in only if its seq is higher, which
	// makes writing a batch twice (after a crash) change nothing.
	Seq       int64     `bson:"seq"`
	Groups    []byte    `bson:"groups"`
	ExpiresAt time.Time `bson:"expires_at"`
}

// DayGroup is one row of a UsageDay: the totals of one model through one
// key of one project. The fields mean what Rollup's do.
type DayGroup struct {
	Model, KeyID, ProjectID                      string
	Requests, Errors, FreeRequests               int64
	InputTokens, CachedInputTokens, OutputTokens int64
	CostMicros, ChargedMicros                    int64
}

// Rollup is the group as a rollup of the day.
func (g DayGroup) Rollup(accountID, day string) Rollup {
	return Rollup{ID: RollupID(accountID, day, g.Model, g.KeyID), AccountID: accountID, Day: day, Model: g.Model,
		KeyID: g.KeyID, ProjectID: g.ProjectID, Requests: g.Requests, Errors: g.Errors, FreeRequests: g.FreeRequests,
		InputTokens: g.InputTokens, CachedInputTokens: g.CachedInputTokens, OutputTokens: g.OutputTokens,
		CostMicros: g.CostMicros, ChargedMicros: g.ChargedMicros}
}

// Add adds o's counts to g.
func (g *DayGroup) Add(o DayGroup) {
	g.Requests += o.Requests
	g.Errors += o.Errors
	g.FreeRequests += o.FreeRequests
	g.InputTokens += o.InputTokens
	g.CachedInputTokens += o.CachedInputTokens
	g.OutputTokens += o.OutputTokens
	g.CostMicros += o.CostMicros
	g.ChargedMicros += o.ChargedMicros
}

// The packed form: one line per row, fields separated by tabs; text fields
// escape backslash, tab and newline as \\, \t and \n. A reader ignores
// fields it does not know (a later version may append some) and reads
// missing trailing numbers as zero. The lines are gzipped (the same model,
// key and project ids repeat from row to row: about a fifth of the size,
// which is what both databases read); a reader also takes them plain.

// EncodeDayGroups packs the rows of a day.
func EncodeDayGroups(gs []DayGroup) []byte {
	b := make([]byte, 0, len(gs)*96)
	for _, g := range gs {
		b = appendText(b, g.Model)
		b = appendText(append(b, '\t'), g.KeyID)
		b = appendText(append(b, '\t'), g.ProjectID)
		for _, n := range [...]int64{g.Requests, g.Errors, g.FreeRequests, g.InputTokens, g.CachedInputTokens, g.OutputTokens, g.CostMicros, g.ChargedMicros} {
			b = strconv.AppendInt(append(b, '\t'), n, 10)
		}
		b = append(b, '\n')
	}
	return compress(b)
}

// DecodeDayGroups reads what EncodeDayGroups wrote.
func DecodeDayGroups(b []byte) ([]DayGroup, error) { return new(Decoder).DayGroups(b) }

// Decoder reads packed rows, reusing its buffers from one document to the
// next. Not safe for concurrent use; the zero value is ready.
type Decoder struct {
	zr  *gzip.Reader
	buf bytes.Buffer
}

// DayGroups reads what EncodeDayGroups wrote.
func (dec *Decoder) DayGroups(b []byte) ([]DayGroup, error) {
	b, err := dec.decompress(b)
	if err != nil {
		return nil, fmt.Errorf("decode usage day: %w", err)
	}
	out := make([]DayGroup, 0, bytes.Count(b, []byte{'\n'}))
	err = eachLine(b, func(f [][]byte) error {
		var g DayGroup
		g.Model, g.KeyID, g.ProjectID = text(f, 0), text(f, 1), text(f, 2)
		for i, p := range []*int64{&g.Requests, &g.Errors, &g.FreeRequests, &g.InputTokens, &g.CachedInputTokens, &g.OutputTokens, &g.CostMicros, &g.ChargedMicros} {
			n, err := number(f, 3+i)
			if err != nil {
				return err
			}
			*p = n
		}
		out = append(out, g)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("decode usage day: %w", err)
	}
	return out, nil
}

// Payments is one document of "account_payments" (_id = account id): the
// newest PaymentsKept credits of the account, newest first, packed by
// EncodePayments.
type Payments struct {
	ID string `bson:"_id"`
	// Seq is the sequence number of the newest credit entry in it (the
	// ledger adds only entries with a higher one).
	Seq     int64  `bson:"seq"`
	Entries []byte `bson:"entries"`
}

// Payment is one credit of the account: a purchase, refund, dispute or
// adjustment, by card, on-chain transfer or operator.
type Payment struct {
	ID           string // the event id (journal entry id)
	Seq          int64
	Time         time.Time
	CreditKind   string // purchase, refund, dispute, dispute_won, adjustment
	Method       string // card, crypto, adjustment
	AmountMicros int64
}

// EncodePayments packs payments.
func EncodePayments(ps []Payment) []byte {
	b := make([]byte, 0, len(ps)*80)
	for _, p := range ps {
		b = appendText(b, p.ID)
		b = strconv.AppendInt(append(b, '\t'), p.Seq, 10)
		b = strconv.AppendInt(append(b, '\t'), p.Time.UnixMicro(), 10)
		b = appendText(append(b, '\t'), p.CreditKind)
		b = appendText(append(b, '\t'), p.Method)
		b = strconv.AppendInt(append(b, '\t'), p.AmountMicros, 10)
		b = append(b, '\n')
	}
	return compress(b)
}

// DecodePayments reads what EncodePayments wrote.
func DecodePayments(b []byte) ([]Payment, error) {
	b, err := new(Decoder).decompress(b)
	if err != nil {
		return nil, fmt.Errorf("decode payments: %w", err)
	}
	var out []Payment
	err = eachLine(b, func(f [][]byte) error {
		p := Payment{ID: text(f, 0), CreditKind: text(f, 3), Method: text(f, 4)}
		var err error
		var us int64
		if p.Seq, err = number(f, 1); err == nil {
			if us, err = number(f, 2); err == nil {
				p.AmountMicros, err = number(f, 5)
			}
		}
		if err != nil {
			return err
		}
		p.Time = time.UnixMicro(us).UTC()
		out = append(out, p)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("decode payments: %w", err)
	}
	return out, nil
}

// FormatUsageDays writes an account's map of UTC day → sequence number
// ("2026-12-01=123,2026-11-30=98", newest day first).
func FormatUsageDays(m map[string]int64) string {
	days := make([]string, 0, len(m))
	for d := range m {
		days = append(days, d)
	}
	slices.Sort(days)
	var b strings.Builder
	for i := len(days) - 1; i >= 0; i-- {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(days[i])
		b.WriteByte('=')
		b.WriteString(strconv.FormatInt(m[days[i]], 10))
	}
	return b.String()
}

// ParseUsageDays reads what FormatUsageDays wrote.
func ParseUsageDays(s string) (map[string]int64, error) {
	m := map[string]int64{}
	if s == "" {
		return m, nil
	}
	for part := range strings.SplitSeq(s, ",") {
		d, n, ok := strings.Cut(part, "=")
		seq, err := strconv.ParseInt(n, 10, 64)
		if !ok || err != nil {
			return nil, fmt.Errorf("usage days %q: bad entry %q", s, part)
		}
		m[d] = seq
	}
	return m, nil
}

func compress(b []byte) []byte {
	if len(b) == 0 {
		return b
	}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed) // a valid level never fails
	_, _ = zw.Write(b)                                 // a bytes.Buffer never fails
	_ = zw.Close()
	return buf.Bytes()
}

// decompress returns the lines of b, in a buffer of dec's when b is
// gzipped (valid until the next call).
func (dec *Decoder) decompress(b []byte) ([]byte, error) {
	if len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b { // plain lines never start with the gzip magic bytes
		return b, nil
	}
	var err error
	if dec.zr == nil {
		dec.zr, err = gzip.NewReader(bytes.NewReader(b))
	} else {
		err = dec.zr.Reset(bytes.NewReader(b))
	}
	if err != nil {
		return nil, err
	}
	dec.buf.Reset()
	if _, err := dec.buf.ReadFrom(dec.zr); err != nil {
		return nil, err
	}
	return dec.buf.Bytes(), nil
}

func appendText(b []byte, s string) []byte {
	if !strings.ContainsAny(s, "\\\t\n") {
		return append(b, s...)
	}
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			b = append(b, '\\', '\\')
		case '\t':
			b = append(b, '\\', 't')
		case '\n':
			b = append(b, '\\', 'n')
		default:
			b = append(b, s[i])
		}
	}
	return b
}

func text(f [][]byte, i int) string {
	if i >= len(f) {
		return ""
	}
	v := f[i]
	if bytes.IndexByte(v, '\\') < 0 {
		return string(v)
	}
	out := make([]byte, 0, len(v))
	for j := 0; j < len(v); j++ {
		if v[j] != '\\' || j+1 == len(v) {
			out = append(out, v[j])
			continue
		}
		j++
		switch v[j] {
		case 't':
			out = append(out, '\t')
		case 'n':
			out = append(out, '\n')
		default:
			out = append(out, v[j])
		}
	}
	return string(out)
}

func number(f [][]byte, i int) (int64, error) {
	if i >= len(f) || len(f[i]) == 0 {
		return 0, nil
	}
	n, err := strconv.ParseInt(string(f[i]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("field %d: %w", i+1, err)
	}
	return n, nil
}

var errNoFields = errors.New("empty line")

// eachLine calls fn with the fields of each line of b.
func eachLine(b []byte, fn func([][]byte) error) error {
	var fields [][]byte
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		if len(line) == 0 {
			return errNoFields
		}
		fields = fields[:0]
		for {
			i := bytes.IndexByte(line, '\t')
			if i < 0 {
				fields = append(fields, line)
				break
			}
			fields = append(fields, line[:i])
			line = line[i+1:]
		}
		if err := fn(fields); err != nil {
			return err
		}
	}
	return nil
}
