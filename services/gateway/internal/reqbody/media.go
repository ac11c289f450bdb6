package reqbody

import (
	"bytes"
	"encoding/json"

	"github.com/onekey-oss/onekey/services/gateway/internal/jsonscan"
)

// Media is what a body holds besides text: parts whose tokens depend on
// what they show or say, not on their bytes in the body.
type Media struct {
	// Images: OpenAI-style image_url parts, Responses input_image parts
	// and Anthropic image blocks.
	Images int64
	// Files: OpenAI-style file parts, Responses input_file parts and
	// Anthropic document blocks with a
	// base64, URL or file source (a PDF's pages are not counted here).
	Files int64
	// Audio: input_audio parts; AudioBytes the bytes of their values.
	Audio      int64
	AudioBytes int64
	// Bytes is the size of every media part's value in the body (data URLs,
	// base64 data, references), to be left out of the text.
	Bytes int64
}

// mediaKeys are byte strings one of which every media part contains; a
// body with none of them is not walked.
var mediaKeys = [][]byte{[]byte(`"image_url"`), []byte(`"input_audio"`), []byte(`"file"`), []byte(`"source"`), []byte(`"input_image"`), []byte(`"input_file"`)}

// maxMediaDepth bounds the walk; deeper parts count as text (more tokens
// per byte than media, so never less held).
const maxMediaDepth = 32

// ScanMedia finds the media parts of a chat completions or messages body.
// It only looks at structure: a part counts as media where the provider
// reads it as media (an image_url, input_audio or file member, an Anthropic
// image or document block), never from a string's content, so text made to
// look like an image is still counted as text. A body without any of the
// media keys costs a few byte searches.
func ScanMedia(body []byte) Media {
	var m Media
	found := false
	for _, k := range mediaKeys {
		if bytes.Contains(body, k) {
			found = true
			break
		}
	}
	if found {
		m.walk(body, 0)
	}
	return m
}

func (m *Media) walk(v []byte, depth int) {
	if len(v) == 0 || depth > maxMediaDepth {
		return
	}
	switch v[0] {
	case '[':
		_ = jsonscan.Elements(v, func(s, e int) error {
			m.walk(v[s:e], depth+1)
			return nil
		})
	case '{':
		m.object(v, depth)
	}
}

func (m *Media) object(v []byte, depth int) {
	// A part is media when its type says so: {"type":"image_url",
	// "image_url":{...}}, {"type":"image","source":{...}}. The members are
	// in any order, so the candidates are kept until the type is known.
	var typ string
	var part, source []byte
	_ = jsonscan.Fields(v, func(f jsonscan.Field) error {
		val := v[f.ValueStart:f.ValueEnd]
		switch f.Key {
		case "type":
			typ = unquote(val)
		case "image_url", "input_audio", "file", "file_id", "file_data", "file_url":
			if part == nil {
				part = val
				return nil
			}
			m.walk(val, depth+1)
		case "source":
			source = val
		default:
			m.walk(val, depth+1)
		}
		return nil
	})
	switch {
	case part != nil && (typ == "image_url" || typ == "input_image"):
		m.Images++
		m.Bytes += int64(len(part))
		part = nil
	case part != nil && typ == "input_audio":
		m.Audio++
		m.AudioBytes += int64(len(part))
		m.Bytes += int64(len(part))
		part = nil
	case part != nil && (typ == "file" || typ == "input_file"):
		m.Files++
		m.Bytes += int64(len(part))
		part = nil
	case source != nil && typ == "image":
		m.Images++
		m.Bytes += int64(len(source))
		source = nil
	case source != nil && typ == "document" && isReference(source):
		m.Files++
		m.Bytes += int64(len(source))
		source = nil
	}
	// Anything else (a plain-text document's source, a tool schema's
	// "file" property) is text.
	m.walk(part, depth+1)
	m.walk(source, depth+1)
}

// isReference reports whether an Anthropic document source is a file's
// bytes or a reference to one (base64, url, file), not text or content
// blocks.
func isReference(source []byte) bool {
	if len(source) == 0 || source[0] != '{' {
		return false
	}
	var st string
	_ = jsonscan.Fields(source, func(f jsonscan.Field) error {
		if f.Key == "type" {
			st = unquote(source[f.ValueStart:f.ValueEnd])
		}
		return nil
	})
	return st == "base64" || st == "url" || st == "file"
}

// unquote reads a JSON string value ("" for anything else).
func unquote(raw []byte) string {
	if len(raw) < 2 || raw[0] != '"' {
		return ""
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1])
	}
	var s string
	_ = json.Unmarshal(raw, &s)
	return s
}
