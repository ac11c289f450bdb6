package credit_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/api/readmodel"
	"github.com/onekey-oss/onekey/e2e/internal/e2estack"
)

// The fake providers' answers, in their documented wire formats, with
// usage that makes every charge an odd number of micro-dollars.
const (
	chatAnswer  = `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"test-chat-up","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1234,"completion_tokens":567,"total_tokens":1801,"prompt_tokens_details":{"cached_tokens":200}}}`
	chatChunk   = `{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"test-chat-up","choices":[{"index":0,"delta":{"content":"ok"},"finish_reason":null}]}`
	chatUsage   = `{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"test-chat-up","choices":[],"usage":{"prompt_tokens":1234,"completion_tokens":567,"total_tokens":1801}}`
	embedAnswer = `{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1,-0.2]}],"model":"test-embed-up","usage":{"prompt_tokens":4321,"total_tokens":4321}}`
	msgAnswer   = `{"id":"msg_1","type":"message","role":"assistant","model":"test-claude-up","content":[{"type":"text","text":"ok"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":2095,"cache_creation_input_tokens":512,"cache_read_input_tokens":4096,"output_tokens":503}}`
	msgStream   = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"test-claude-up\",\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":2095,\"cache_creation_input_tokens\":512,\"cache_read_input_tokens\":4096,\"output_tokens\":1}}}\n\n" +
		"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n" +
		"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"ok\"}}\n\n" +
		"event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n" +
		"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":503}}\n\n" +
		"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
)

// A Responses API answer and stream (OpenAI's wire format).
const (
	respUsage  = `{"input_tokens":1500,"input_tokens_details":{"cached_tokens":1024},"output_tokens":333,"output_tokens_details":{"reasoning_tokens":100},"total_tokens":1833}`
	respAnswer = `{"id":"resp_1","object":"response","created_at":1,"status":"completed","error":null,"incomplete_details":null,"model":"test-chat-up","output":[{"id":"msg_1","type":"message","status":"completed","role":"assistant","content":[{"type":"output_text","annotations":[],"text":"ok"}]}],"store":false,"usage":` + respUsage + `}`
	respStream = "event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"resp_1\",\"object\":\"response\",\"created_at\":1,\"status\":\"in_progress\",\"model\":\"test-chat-up\",\"output\":[],\"usage\":null}}\n\n" +
		"event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"sequence_number\":1,\"item_id\":\"msg_1\",\"output_index\":0,\"content_index\":0,\"delta\":\"ok\"}\n\n" +
		"event: response.completed\ndata: {\"type\":\"response.completed\",\"sequence_number\":2,\"response\":" + respAnswer + "}\n\n"
)

// costStack is a stack with one gateway whose OpenAI and Anthropic channels
// answer chat completions, embeddings and Messages, plain and streamed.
type costStack struct {
	*e2estack.Stack
}

func newCostStack(t *testing.T) *costStack {
	t.Helper()
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Stream bool `json:"stream"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		switch {
		case r.URL.Path == "/v1/chat/completions" && !req.Stream:
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, chatAnswer)
		case r.URL.Path == "/v1/chat/completions":
			w.Header().Set("Content-Type", "text/event-stream")
			for _, c := range []string{chatChunk, chatUsage, "[DONE]"} {
				fmt.Fprintf(w, "data: %s\n\n", c)
			}
		case r.URL.Path == "/v1/responses" && !req.Stream:
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, respAnswer)
		case r.URL.Path == "/v1/responses":
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, respStream)
		case r.URL.Path == "/v1/embeddings":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, embedAnswer)
		case r.URL.Path == "/v1/messages" && !req.Stream:
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, msgAnswer)
		case r.URL.Path == "/v1/messages":
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, msgStream)
		default:
			http.NotFound(w, r)
		}
	})
	doc := `{"models":[
	  {"id":"test-chat","name":"Test Chat","provider":"openai","upstream_id":"test-chat-up","context_length":100000,"max_output_tokens":1000,"created":1,"source":"test",
	   "pricing":{"input":1234567,"cached_input":123457,"output":9876543}},
	  {"id":"test-embed","name":"Test Embed","provider":"openai","kind":"embedding","upstream_id":"test-embed-up","context_length":8192,"created":1,"source":"test",
	   "pricing":{"input":20003}},
	  {"id":"test-claude","name":"Test Claude","provider":"anthropic","upstream_id":"test-claude-up","context_length":200000,"max_output_tokens":1000,"created":1,"source":"test",
	   "pricing":{"input":3000001,"cached_input":300001,"output":15000001,"cache_write":3750001}}]}`
	return &costStack{e2estack.New(t, e2estack.Options{Replicas: 1, Upstream: upstream, Anthropic: true, Catalog: doc})}
}

// answerCharge is the charge an answer states: usage.cost_micros,
// usage.cost (decimal USD), usage.free and, on a plain answer, the header.
type answerCharge struct {
	micros int64
	cost   money.Micros
	free   bool
	header string
}

// costOf reads the charge from a usage object.
func costOf(t *testing.T, usage json.RawMessage) answerCharge {
	t.Helper()
	var u struct {
		Cost       json.Number `json:"cost"`
		CostMicros *int64      `json:"cost_micros"`
		Free       bool        `json:"free"`
	}
	d := json.NewDecoder(bytes.NewReader(usage))
	d.UseNumber()
	if err := d.Decode(&u); err != nil || u.CostMicros == nil || u.Cost == "" {
		t.Fatalf("usage without cost and cost_micros: %s", usage)
	}
	cost, err := money.Parse(u.Cost.String())
	if err != nil {
		t.Fatalf("usage.cost %s is not an exact decimal amount: %v", u.Cost, err)
	}
	return answerCharge{micros: *u.CostMicros, cost: cost, free: u.Free}
}

// ask sends one request and returns its id and the charge its answer
// states: from the JSON body's usage, or from the stream's last usage.
func (s *costStack) ask(t *testing.T, key, path, body string) (string, answerCharge) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+s.Gateways[0].Addr()+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: status %d: %s", path, resp.StatusCode, raw)
	}
	id := resp.Header.Get("X-Request-Id")
	var usage json.RawMessage
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		var doc struct {
			Usage json.RawMessage `json:"usage"`
		}
		if err := json.Unmarshal(raw, &doc); err != nil {
			t.Fatalf("%s: %v: %s", path, err, raw)
		}
		c := costOf(t, doc.Usage)
		c.header = resp.Header.Get("X-Onekey-Cost-Micros")
		if c.header == "" {
			t.Errorf("%s: no x-onekey-cost-micros header", path)
		}
		return id, c
	}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok || data == "[DONE]" {
			continue
		}
		var ev struct {
			Usage    json.RawMessage `json:"usage"`
			Response *struct {
				Usage json.RawMessage `json:"usage"`
			} `json:"response"` // Responses: response.completed
		}
		if json.Unmarshal([]byte(data), &ev) != nil {
			continue
		}
		if ev.Response != nil {
			ev.Usage = ev.Response.Usage
		}
		if len(ev.Usage) > 0 && string(ev.Usage) != "null" {
			usage = ev.Usage
		}
	}
	if usage == nil {
		t.Fatalf("%s: the stream has no usage: %s", path, raw)
	}
	return id, costOf(t, usage)
}

// chargedRow is the ledger's usage row's charge.
type chargedRow struct {
	CostMicros    int64 `bson:"cost_micros"`
	ChargedMicros int64 `bson:"charged_micros"`
	Free          bool  `bson:"free"`
}

func (s *costStack) row(t *testing.T, id string) chargedRow {
	t.Helper()
	var r chargedRow
	e2estack.WaitFor(t, "the ledger's usage row of "+id, func() bool {
		return s.Store.Collection(readmodel.CollUsage).FindOne(context.Background(), bson.D{{Key: "_id", Value: id}}).Decode(&r) == nil
	})
	return r
}

var costCases = []struct{ name, path, body string }{
	{"chat", "/v1/chat/completions", `{"model":"test-chat","messages":[{"role":"user","content":"hi"}]}`},
	{"chat_stream", "/v1/chat/completions", `{"model":"test-chat","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}`},
	{"embeddings", "/v1/embeddings", `{"model":"test-embed","input":"hi"}`},
	{"messages", "/v1/messages", `{"model":"test-claude","max_tokens":1000,"messages":[{"role":"user","content":"hi"}]}`},
	{"messages_stream", "/v1/messages", `{"model":"test-claude","max_tokens":1000,"messages":[{"role":"user","content":"hi"}],"stream":true}`},
	{"responses", "/v1/responses", `{"model":"test-chat","input":"hi"}`},
	{"responses_stream", "/v1/responses", `{"model":"test-chat","input":"hi","stream":true}`},
	{"responses_translated", "/v1/responses", `{"model":"test-claude","input":"hi","max_output_tokens":1000}`},
	{"responses_translated_stream", "/v1/responses", `{"model":"test-claude","input":"hi","max_output_tokens":1000,"stream":true}`},
}

// TestCost_AnswerUsageEventAndLedgerAgreeToTheMicroDollar: for chat
// completions, embeddings, Messages and Responses (passed through and
// translated to Messages), plain and streamed, the charge the
// answer states (usage.cost_micros, usage.cost, the header) is the usage
// event's cost, the ledger's usage row's charge and what left the balance.
func TestCost_AnswerUsageEventAndLedgerAgreeToTheMicroDollar(t *testing.T) {
	s := newCostStack(t)
	acc, key := s.Account(t, true, 10*money.Dollar)
	balance := 10 * money.Dollar
	for _, tc := range costCases {
		t.Run(tc.name, func(t *testing.T) {
			id, got := s.ask(t, key, tc.path, tc.body)
			ev := s.Usage(t, id)
			row := s.row(t, id)
			if got.micros <= 0 || got.free {
				t.Fatalf("answer states cost_micros %d free %v; want a paid charge", got.micros, got.free)
			}
			if got.micros != int64(ev.CostMicros) || ev.Free {
				t.Errorf("answer cost_micros %d, usage event %d (free %v)", got.micros, ev.CostMicros, ev.Free)
			}
			if int64(got.cost) != got.micros {
				t.Errorf("answer cost %s, cost_micros %d", got.cost, got.micros)
			}
			if got.header != "" && got.header != strconv.FormatInt(got.micros, 10) {
				t.Errorf("header %s, cost_micros %d", got.header, got.micros)
			}
			if row.ChargedMicros != got.micros || row.CostMicros != got.micros {
				t.Errorf("ledger row charged %d cost %d, answer %d", row.ChargedMicros, row.CostMicros, got.micros)
			}
			balance -= money.Micros(got.micros)
			e2estack.WaitFor(t, fmt.Sprintf("the balance at %s", balance), func() bool {
				b, _ := s.Balance(t, acc)
				return b.BalanceMicros == balance
			})
		})
	}
	s.Verify(t)
}

// TestCost_FreeRequestAnswersZeroAndTheLedgerChargesNothing: a free
// request's answer states cost 0 and free, plain and streamed; the ledger
// charges it nothing and uses one free request.
func TestCost_FreeRequestAnswersZeroAndTheLedgerChargesNothing(t *testing.T) {
	s := newCostStack(t)
	acc, key := s.Account(t, false, 0)
	for i, tc := range costCases[:2] {
		id, got := s.ask(t, key, tc.path, tc.body)
		if got.micros != 0 || got.cost != 0 || !got.free || (got.header != "" && got.header != "0") {
			t.Errorf("%s: free answer states cost_micros %d cost %s free %v header %q", tc.name, got.micros, got.cost, got.free, got.header)
		}
		if ev := s.Usage(t, id); !ev.Free {
			t.Errorf("%s: usage event not free", tc.name)
		}
		if row := s.row(t, id); row.ChargedMicros != 0 || !row.Free {
			t.Errorf("%s: ledger row charged %d free %v", tc.name, row.ChargedMicros, row.Free)
		}
		e2estack.WaitFor(t, "the free request used", func() bool {
			b, _ := s.Balance(t, acc)
			return b.FreeRequestsLeft == int64(20-i-1) && b.BalanceMicros == 0
		})
	}
	s.Verify(t)
}
