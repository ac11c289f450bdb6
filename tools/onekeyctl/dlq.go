package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/onekey-oss/onekey/api/events"
)

// deadLetter is one message of the DEADLETTER stream.
type deadLetter struct {
	Seq uint64
	events.DeadLetterV1
}

// deadLetters reads the DEADLETTER stream from its first message to its
// last (a message deleted meanwhile is skipped), or only seq when it is
// not 0.
func deadLetters(ctx context.Context, js jetstream.JetStream, seq uint64) ([]deadLetter, error) {
	st, err := js.Stream(ctx, events.StreamDeadLetter)
	if err != nil {
		return nil, fmt.Errorf("open stream %s: %w", events.StreamDeadLetter, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("read stream %s: %w", events.StreamDeadLetter, err)
	}
	first, last := info.State.FirstSeq, info.State.LastSeq
	if seq != 0 {
		first, last = seq, seq
	}
	var out []deadLetter
	for s := first; s <= last && info.State.Msgs > 0; s++ {
		raw, err := st.GetMsg(ctx, s)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			if seq != 0 {
				return nil, fmt.Errorf("%w: no dead letter %d in %s", errFailed, seq, events.StreamDeadLetter)
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read dead letter %d: %w", s, err)
		}
		var dl events.DeadLetterV1
		if err := json.Unmarshal(raw.Data, &dl); err != nil {
			return nil, fmt.Errorf("decode dead letter %d: %w", s, err)
		}
		out = append(out, deadLetter{Seq: s, DeadLetterV1: dl})
	}
	if seq != 0 && len(out) == 0 {
		return nil, fmt.Errorf("%w: no dead letter %d in %s", errFailed, seq, events.StreamDeadLetter)
	}
	return out, nil
}

func (e *env) dlqList(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("dlq list", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: onekeyctl dlq list   (seq, time, consumer, subject, message id, attempts, reason)")
	}
	if _, err := parse(fs, args, 0, e.out); err != nil {
		return err
	}
	b, err := e.connect(ctx)
	if err != nil {
		return err
	}
	dls, err := deadLetters(ctx, b.JetStream(), 0)
	if err != nil {
		return err
	}
	for _, d := range dls {
		fmt.Fprintf(e.out, "%d\t%s\t%s\t%s\t%s\t%d attempts\t%s\n", d.Seq, d.Time.UTC().Format(time.RFC3339), d.Consumer, d.Subject, d.MsgID, d.Attempts, d.Reason)
	}
	fmt.Fprintf(e.out, "%d dead letter(s)\n", len(dls))
	return nil
}

// dlqReplay republishes dead letters' original messages to their original
// subjects with their original Nats-Msg-Id: within the stream's duplicate
// window JetStream drops a copy of a message it still remembers, and after
// it the consumer's own idempotency (the ledger's journal by event id, the
// notifier's records) makes a replay that already succeeded a no-op. The
// dead letter itself stays in its stream (it is the record of the failure).
func (e *env) dlqReplay(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("dlq replay", flag.ContinueOnError)
	all := fs.Bool("all", false, "replay every dead letter")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: onekeyctl dlq replay <seq> | --all")
		fs.PrintDefaults()
	}
	pos, err := parse(fs, args, -1, e.out)
	if err != nil {
		return err
	}
	var seq uint64
	switch {
	case *all && len(pos) == 0:
	case !*all && len(pos) == 1:
		if seq, err = strconv.ParseUint(pos[0], 10, 64); err != nil || seq == 0 {
			return fmt.Errorf("%w: dlq replay: %q is not a sequence number (see dlq list)", errUsage, pos[0])
		}
	default:
		fs.Usage()
		return fmt.Errorf("%w: dlq replay takes one sequence number or --all", errUsage)
	}
	b, err := e.connect(ctx)
	if err != nil {
		return err
	}
	dls, err := deadLetters(ctx, b.JetStream(), seq)
	if err != nil {
		return err
	}
	for _, d := range dls {
		msg := nats.NewMsg(d.Subject)
		msg.Data = d.Payload
		ack, err := b.JetStream().PublishMsg(ctx, msg, jetstream.WithMsgID(d.MsgID))
		if err != nil {
			return fmt.Errorf("replay dead letter %d to %s: %w", d.Seq, d.Subject, err)
		}
		state := "replayed"
		if ack.Duplicate {
			state = "dropped as a duplicate (the stream still has it)"
		}
		fmt.Fprintf(e.out, "%d\t%s\t%s\t%s\n", d.Seq, d.Subject, d.MsgID, state)
	}
	fmt.Fprintf(e.out, "%d dead letter(s) replayed\n", len(dls))
	return nil
}
