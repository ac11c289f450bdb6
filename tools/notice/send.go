package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go/jetstream"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/notices"
	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/pkg/config"
	"github.com/onekey-oss/onekey/pkg/store"
)

type sendOptions struct {
	ID, Subject, BodyFile, Text string
	DryRun                      bool
	ProgressEvery               int
}

var noticeID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

func (o sendOptions) check() error {
	var errs []error
	if !noticeID.MatchString(o.ID) {
		errs = append(errs, errors.New("--id: want 1 to 64 letters, digits, '-' or '_'"))
	}
	if s := strings.TrimSpace(o.Subject); s == "" || strings.ContainsAny(s, "\r\n") || len(s) > 200 {
		errs = append(errs, errors.New("--subject: want one line of at most 200 bytes"))
	}
	if o.BodyFile == "" {
		errs = append(errs, errors.New("--body-file is required"))
	}
	if o.ProgressEvery <= 0 {
		errs = append(errs, errors.New("--progress-every: want a positive number"))
	}
	return errors.Join(errs...)
}

// env is what the command connects to.
type env struct {
	MongoURI, MongoDB, NATSURL string
	// NATSCredsFile is bus user notice's credentials file (NATS_CREDS_FILE).
	NATSCredsFile string
	// killBefore, for the crash test only (NOTICE_FAILPOINT=
	// kill-before-publish:N): the process SIGKILLs itself after recording
	// the Nth user's delivery, before publishing it.
	killBefore int
}

func envFrom(getenv func(string) string, dryRun bool) (env, error) {
	r := config.NewReader(getenv)
	e := env{MongoURI: r.Required("MONGODB_URI"), MongoDB: r.String("MONGODB_DB", "onekey")}
	if dryRun {
		e.NATSURL = r.String("NATS_URL", "")
	} else {
		e.NATSURL = r.Required("NATS_URL")
	}
	e.NATSCredsFile = r.String("NATS_CREDS_FILE", "")
	if fp := r.String("NOTICE_FAILPOINT", ""); fp != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(fp, "kill-before-publish:"))
		if err != nil || !strings.HasPrefix(fp, "kill-before-publish:") || n < 1 {
			r.Fail("NOTICE_FAILPOINT: want kill-before-publish:N")
		}
		e.killBefore = n
	}
	return e, r.Err()
}

// counts is the progress of a send.
type counts struct {
	users, published, already, queued int
}

// send runs the whole send (or its dry run). Each user is handled in
// order of account id:
//
//  1. insert the user's delivery {_id: notice:<id>:<account>, queued}; the
//     unique id decides. If it exists and says published, the user is done.
//  2. publish notice.requested with Nats-Msg-Id = that id and wait for the
//     bus's ack. A repeat after a crash between 1 and 3 publishes the same
//     event again: JetStream drops it within its duplicate window, and the
//     notifier's own record (the same id) and Resend's Idempotency-Key
//     stop a second mail after it.
//  3. mark the delivery published.
//
// So a run killed anywhere, then run again with the same id, mails every
// user once.
func send(ctx context.Context, e env, o sendOptions, out io.Writer) error {
	st, err := store.Open(ctx, e.MongoURI, e.MongoDB, nil)
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = st.Close(cctx)
	}()
	n, err := theNotice(ctx, st, o)
	if err != nil {
		return err
	}
	if o.DryRun {
		return dryRun(ctx, st, n, out)
	}
	b, err := bus.Connect(ctx, bus.Config{URL: e.NATSURL, Name: "notice", User: bus.UserNotice, CredsFile: e.NATSCredsFile})
	if err != nil {
		return err
	}
	defer b.Close()

	var c counts
	start := time.Now()
	deliveries := st.Collection(notices.CollDeliveries)
	err = eachUser(ctx, st, func(account string) error {
		c.users++
		id := events.NoticeEventID(n.ID, account)
		_, err := deliveries.InsertOne(ctx, notices.Delivery{ID: id, NoticeID: n.ID, AccountID: account, State: notices.StateQueued, CreatedAt: time.Now().UTC()})
		if store.IsDuplicate(err) {
			var d notices.Delivery
			if err := deliveries.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d); err != nil {
				return fmt.Errorf("read delivery %s: %w", id, err)
			}
			if d.State == notices.StatePublished {
				c.already++
				return nil
			}
			c.queued++ // recorded by a run that stopped before the bus acked it
		} else if err != nil {
			return fmt.Errorf("record delivery %s: %w", id, err)
		}
		if e.killBefore > 0 && c.users == e.killBefore {
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		}
		// Time is the notice's: every publish of this event is the same
		// bytes, and so is the mail rendered from it.
		ev := events.NoticeRequestedV1{V: 1, ID: id, Time: n.CreatedAt, NoticeID: n.ID, AccountID: account}
		if _, err := b.Publish(ctx, ev); err != nil {
			if errors.Is(err, jetstream.ErrNoStreamResponse) {
				return fmt.Errorf("%w (no NOTICES stream: start a notifier of this version first, it declares it)", err)
			}
			return err
		}
		now := time.Now().UTC()
		_, err = deliveries.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, bson.D{{Key: "$set", Value: bson.D{
			{Key: "state", Value: notices.StatePublished}, {Key: "published_at", Value: now},
		}}})
		if err != nil {
			return fmt.Errorf("mark delivery %s published: %w", id, err)
		}
		c.published++
		return nil
	}, func() {
		if c.users%o.ProgressEvery == 0 {
			fmt.Fprintf(out, "progress: %d users: %d published now, %d already published before\n", c.users, c.published, c.already)
		}
	})
	fmt.Fprintf(out, "notice %s: %d users: %d published now (%d of them left queued by an earlier run), %d already published before; %s\n",
		n.ID, c.users, c.published, c.queued, c.already, time.Since(start).Round(time.Millisecond))
	if err != nil {
		return fmt.Errorf("stopped (run again with the same --id to finish): %w", err)
	}
	fmt.Fprintln(out, "the notifier now mails them at its own pace (NOTIFIER_NOTICE_INTERVAL)")
	return nil
}

// theNotice records the notice (a unique insert of its id) or, when it
// exists, checks it is the same one.
func theNotice(ctx context.Context, st *store.Store, o sendOptions) (notices.Notice, error) {
	if !utf8.ValidString(o.Text) || strings.TrimSpace(o.Text) == "" {
		return notices.Notice{}, errors.New("the body file is empty or not UTF-8 text")
	}
	want := notices.Notice{ID: o.ID, Subject: strings.TrimSpace(o.Subject), Text: strings.TrimSpace(strings.ReplaceAll(o.Text, "\r\n", "\n")), CreatedAt: time.Now().UTC().Truncate(time.Millisecond)}
	coll := st.Collection(notices.CollNotices)
	var have notices.Notice
	err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: o.ID}}).Decode(&have)
	switch {
	case err == nil:
	case !errors.Is(err, mongo.ErrNoDocuments):
		return notices.Notice{}, fmt.Errorf("read notice %s: %w", o.ID, err)
	case o.DryRun:
		return want, nil
	default:
		_, err := coll.InsertOne(ctx, want)
		if err == nil {
			return want, nil
		}
		if !store.IsDuplicate(err) {
			return notices.Notice{}, fmt.Errorf("record notice %s: %w", o.ID, err)
		}
		if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: o.ID}}).Decode(&have); err != nil {
			return notices.Notice{}, fmt.Errorf("read notice %s: %w", o.ID, err)
		}
	}
	if have.Subject != want.Subject || have.Text != want.Text {
		return notices.Notice{}, fmt.Errorf("notice %s was recorded on %s with another subject or text: use a new --id", o.ID, have.CreatedAt.Format(time.RFC3339))
	}
	return have, nil
}

// dryRun counts the users who would get the mail: those without a
// published delivery of the notice.
func dryRun(ctx context.Context, st *store.Store, n notices.Notice, out io.Writer) error {
	deliveries := st.Collection(notices.CollDeliveries)
	var users, done int
	err := eachUser(ctx, st, func(account string) error {
		users++
		var d notices.Delivery
		err := deliveries.FindOne(ctx, bson.D{{Key: "_id", Value: events.NoticeEventID(n.ID, account)}}).Decode(&d)
		switch {
		case err == nil && d.State == notices.StatePublished:
			done++
		case err != nil && !errors.Is(err, mongo.ErrNoDocuments):
			return fmt.Errorf("read delivery: %w", err)
		}
		return nil
	}, func() {})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "dry run: notice %s would be sent to %d users (%d users, %d already sent)\n", n.ID, users-done, users, done)
	return nil
}

// eachUser calls f with the account id of every user not deleted, in
// order of id, and after it each time. Only ids are read: the tool
// never sees an address.
func eachUser(ctx context.Context, st *store.Store, f func(account string) error, after func()) error {
	filter := bson.D{{Key: "deleted_at", Value: bson.D{{Key: "$exists", Value: false}}}}
	opts := options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetProjection(bson.D{{Key: "_id", Value: 1}})
	cur, err := st.Collection(usersCollection).Find(ctx, filter, opts)
	if err != nil {
		return fmt.Errorf("list users: %w", err)
	}
	defer cur.Close(ctx)
	for cur.Next(ctx) {
		var u struct {
			ID string `bson:"_id"`
		}
		if err := cur.Decode(&u); err != nil {
			return fmt.Errorf("list users: %w", err)
		}
		if err := f(u.ID); err != nil {
			return err
		}
		after()
	}
	if err := cur.Err(); err != nil {
		return fmt.Errorf("list users: %w", err)
	}
	return nil
}

// usersCollection is auth's collection of people (_id = account id;
// deleted_at on a tombstone).
const usersCollection = "users"
