package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/onekey-oss/onekey/services/auth/internal/assistant"
)

// Assistant answers a signed-in user's questions about their own account
// (internal/assistant); nil when it is not configured.
type Assistant interface {
	Answer(ctx context.Context, account string, conv []assistant.Message, emit func(assistant.Event) error) error
}

// assistantRoutes: the conversation is sent whole with each question (the
// page keeps it; nothing here does) and the answer is streamed back as
// server-sent events, one JSON assistant.Event per "data:" line.
func (a *API) assistantRoutes(api *echo.Group) {
	api.POST("/assistant/messages", a.ask)
}

func (a *API) ask(c echo.Context) error {
	if a.assistant == nil {
		return fail(http.StatusNotFound, "assistant_off", "the assistant is not configured on this deployment")
	}
	var b struct {
		Messages []assistant.Message `json:"messages"`
	}
	if err := bind(c, &b); err != nil {
		return err
	}
	w := c.Response()
	started := false
	emit := func(ev assistant.Event) error {
		if !started {
			h := w.Header()
			h.Set("Content-Type", "text/event-stream")
			h.Set("Cache-Control", "no-store")
			h.Set("X-Accel-Buffering", "no")
			w.WriteHeader(http.StatusOK)
			started = true
		}
		raw, err := json.Marshal(ev)
		if err != nil {
			return fmt.Errorf("assistant: encode event: %w", err)
		}
		if _, err := fmt.Fprintf(w, "data: %s\n\n", raw); err != nil {
			return err
		}
		w.Flush()
		return nil
	}
	err := a.assistant.Answer(c.Request().Context(), user(c).ID, b.Messages, emit)
	if err == nil {
		return nil
	}
	status, code, msg := a.assistantRefusal(err)
	if !started {
		return fail(status, code, msg)
	}
	// The answer had begun: the refusal ends the stream.
	_ = emit(assistant.Event{Type: "error", Code: code, Text: msg})
	return nil
}

// assistantRefusal is what the user is told when an answer cannot be
// given. Never the error's text for upstream failures: it may quote the
// conversation.
func (a *API) assistantRefusal(err error) (status int, code, msg string) {
	var ue *assistant.UpstreamError
	switch {
	case errors.Is(err, assistant.ErrRateLimited):
		next := a.now().UTC().Truncate(time.Hour).Add(time.Hour)
		return http.StatusTooManyRequests, "assistant_rate_limited",
			"You have asked as many questions as the assistant takes in an hour. Please ask again after " + next.Format("15:04") + " UTC; your pages have every figure meanwhile."
	case errors.Is(err, assistant.ErrDailyCap):
		return http.StatusTooManyRequests, "assistant_daily_cap",
			"The assistant has reached its spending limit for today and is resting until midnight UTC. Sorry! Your pages have every figure meanwhile."
	case errors.Is(err, assistant.ErrNotReady):
		a.log.Warn("assistant: not ready", "err", err)
		return http.StatusServiceUnavailable, "assistant_unavailable", "The assistant is starting up. Please try again in a moment."
	case errors.Is(err, assistant.ErrInvalid):
		return http.StatusBadRequest, "invalid_request", "The assistant could not read this conversation; please reload the page and ask again."
	case errors.Is(err, context.Canceled):
		return 499, "canceled", "canceled"
	case errors.As(err, &ue):
		a.log.Warn("assistant: upstream call failed", "status", ue.Status, "kind", ue.Kind)
		return http.StatusBadGateway, "assistant_unavailable", "The assistant could not reach its model just now. Please try again in a moment."
	}
	a.log.Error("assistant: answer failed", "err", err)
	return http.StatusInternalServerError, "internal", "Something went wrong on our side; please try again."
}
