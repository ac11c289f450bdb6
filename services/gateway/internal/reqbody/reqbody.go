// Package reqbody reads what the gateway needs from a client's request body
// (model, stream, output limit, usage option) and rewrites only what billing
// needs, leaving every other byte as the client sent it.
package reqbody

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/onekey-oss/onekey/services/gateway/internal/jsonscan"
)

// ErrInvalid is wrapped by every error about a body the gateway refuses.
var ErrInvalid = errors.New("invalid request body")

// Info is what the gateway read from a body, with the spans it may rewrite.
type Info struct {
	Model      string
	modelStart int
	modelEnd   int
	Stream     bool
	// IncludeUsage is the client's stream_options.include_usage.
	IncludeUsage bool
	hasOptions   bool
	optStart     int
	optEnd       int
	// MaxOutputTokens is the largest of max_completion_tokens, max_tokens
	// and max_output_tokens the client set (0: none): a provider may read
	// any of them.
	MaxOutputTokens int64
	// Choices is the client's n (0: not set), how many completions it asks
	// for.
	Choices int64
	// limits are the spans of the limit keys' values, for SetOutputLimit
	// (each key at most once: a repeated one is refused).
	limits  [3]span
	nlimits int
	// sendLimit, when set, is the output limit Rewrite sends upstream.
	sendLimit    int64
	sendLimitKey string
	// extras are the spans of the Responses API's members in extraKeys
	// (their last copy: a repeated one is not refused).
	extras [len(extraKeys)]jsonscan.Span
	// setKey, when set, is the member Rewrite sends as setRaw.
	setKey string
	setRaw []byte
}

// extraKeys are the members Peek also finds for the Responses API, so that
// its body is scanned once.
var extraKeys = [...]string{"store", "background", "previous_response_id"}

// Raw returns the raw value of body's member key, one of store, background
// and previous_response_id (nil when absent).
func (in Info) Raw(body []byte, key string) []byte {
	for i, k := range extraKeys {
		if k == key && in.extras[i].Found {
			return body[in.extras[i].Start:in.extras[i].End]
		}
	}
	return nil
}

// SetMember makes Rewrite send raw as the value of key (store): its last
// copy is replaced, else the key is added first.
func (in *Info) SetMember(key string, raw []byte) {
	in.setKey, in.setRaw = key, raw
}

type span struct {
	key        string
	start, end int
}

// SetOutputLimit makes Rewrite send the output limit n under key (for a
// client that set no limit of its own): an existing null value of key is
// replaced, else the key is added.
func (in *Info) SetOutputLimit(key string, n int64) {
	in.sendLimitKey, in.sendLimit = key, n
}

// Peek scans the top level of body. A repeated model, stream or limit key is
// refused: a provider might read another copy than the gateway billed.
func Peek(body []byte) (Info, error) {
	var in Info
	seen := map[string]bool{}
	err := jsonscan.Fields(body, func(f jsonscan.Field) error {
		switch f.Key {
		case "model", "stream", "stream_options", "max_tokens", "max_completion_tokens", "max_output_tokens", "n":
		default:
			for i, k := range extraKeys {
				if f.Key == k {
					in.extras[i] = jsonscan.Span{Start: f.ValueStart, End: f.ValueEnd, Found: true}
				}
			}
			return nil
		}
		if seen[f.Key] {
			return fmt.Errorf("%w: %q appears twice", ErrInvalid, f.Key)
		}
		seen[f.Key] = true
		raw := body[f.ValueStart:f.ValueEnd]
		switch f.Key {
		case "model":
			if len(raw) == 0 || raw[0] != '"' {
				return fmt.Errorf("%w: model must be a string", ErrInvalid)
			}
			if bytes.IndexByte(raw, '\\') >= 0 {
				if err := json.Unmarshal(raw, &in.Model); err != nil {
					return fmt.Errorf("%w: model: %v", ErrInvalid, err)
				}
			} else {
				in.Model = string(raw[1 : len(raw)-1])
			}
			in.modelStart, in.modelEnd = f.ValueStart, f.ValueEnd
		case "stream":
			switch string(raw) {
			case "true":
				in.Stream = true
			case "false", "null":
			default:
				return fmt.Errorf("%w: stream must be a boolean", ErrInvalid)
			}
		case "stream_options":
			in.hasOptions, in.optStart, in.optEnd = true, f.ValueStart, f.ValueEnd
			if string(raw) == "null" {
				return nil
			}
			var o struct {
				IncludeUsage *bool `json:"include_usage"`
			}
			if err := json.Unmarshal(raw, &o); err != nil {
				return fmt.Errorf("%w: stream_options: %v", ErrInvalid, err)
			}
			in.IncludeUsage = o.IncludeUsage != nil && *o.IncludeUsage
		default:
			if f.Key != "n" {
				in.limits[in.nlimits] = span{f.Key, f.ValueStart, f.ValueEnd}
				in.nlimits++
			}
			if string(raw) == "null" {
				return nil
			}
			n, err := strconv.ParseInt(string(raw), 10, 64)
			if err != nil || n < 0 {
				return fmt.Errorf("%w: %s must be a non-negative integer", ErrInvalid, f.Key)
			}
			if f.Key == "n" {
				in.Choices = n
			} else {
				in.MaxOutputTokens = max(in.MaxOutputTokens, n)
			}
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrInvalid) {
			return Info{}, err
		}
		return Info{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return in, nil
}

// Rewrite returns the body to send upstream: the model id replaced by
// upstreamModel when it differs; when askUsage is set on a stream whose
// client did not ask for usage, stream_options.include_usage turned on (the
// relay then removes the usage the client did not ask for); and the output
// limit set by SetOutputLimit. body is returned unchanged, without copying,
// when nothing changes.
func Rewrite(body []byte, in Info, upstreamModel string, askUsage bool) ([]byte, error) {
	type edit struct {
		start, end int
		repl       []byte
	}
	var edits []edit
	// front are the members added first, in this order, comma-separated.
	var front []byte
	addFront := func(member ...string) {
		if front == nil {
			front = make([]byte, 0, 64)
		} else {
			front = append(front, ',')
		}
		for _, m := range member {
			front = append(front, m...)
		}
	}
	if in.setKey != "" {
		replaced := false
		for i, k := range extraKeys {
			if k == in.setKey && in.extras[i].Found {
				edits = append(edits, edit{in.extras[i].Start, in.extras[i].End, in.setRaw})
				replaced = true
			}
		}
		if !replaced {
			addFront(strconv.Quote(in.setKey), ":", string(in.setRaw))
		}
	}
	if in.Model != upstreamModel && in.modelEnd > in.modelStart {
		q, _ := json.Marshal(upstreamModel)
		edits = append(edits, edit{in.modelStart, in.modelEnd, q})
	}
	if askUsage && in.Stream && !in.IncludeUsage {
		if in.hasOptions {
			opts := map[string]json.RawMessage{}
			raw := body[in.optStart:in.optEnd]
			if string(raw) != "null" {
				if err := json.Unmarshal(raw, &opts); err != nil {
					return nil, fmt.Errorf("%w: stream_options: %v", ErrInvalid, err)
				}
			}
			opts["include_usage"] = json.RawMessage("true")
			repl, err := json.Marshal(opts)
			if err != nil {
				return nil, fmt.Errorf("encode stream_options: %w", err)
			}
			edits = append(edits, edit{in.optStart, in.optEnd, repl})
		} else {
			addFront(`"stream_options":{"include_usage":true}`)
		}
	}
	if in.sendLimitKey != "" {
		n := []byte(strconv.FormatInt(in.sendLimit, 10))
		replaced := false
		for _, l := range in.limits[:in.nlimits] {
			if l.key == in.sendLimitKey && string(body[l.start:l.end]) == "null" {
				edits = append(edits, edit{l.start, l.end, n})
				replaced = true
			}
		}
		if !replaced {
			addFront(`"`, in.sendLimitKey, `":`)
			front = append(front, n...)
		}
	}
	if len(front) > 0 {
		// Insert as the first members, right after the '{'.
		open := bytes.IndexByte(body, '{')
		if string(bytes.TrimSpace(body[open+1:])) != "}" {
			front = append(front, ',') // an empty object takes no comma
		}
		edits = append(edits, edit{open + 1, open + 1, front})
	}
	if len(edits) == 0 {
		return body, nil
	}
	slices.SortStableFunc(edits, func(a, b edit) int { return a.start - b.start })
	out := make([]byte, 0, len(body)+64)
	prev := 0
	for _, e := range edits {
		out = append(out, body[prev:e.start]...)
		out = append(out, e.repl...)
		prev = e.end
	}
	return append(out, body[prev:]...), nil
}
