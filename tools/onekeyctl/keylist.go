package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/onekey-oss/onekey/api/events"
)

// suspensionRecord is auth's record of a suspended key (its _id is the
// key id): present while the key is suspended, deleted by its restore.
type suspensionRecord struct {
	KeyID     string    `bson:"_id"`
	AccountID string    `bson:"account_id"`
	Actor     string    `bson:"actor"`
	Reason    string    `bson:"reason"`
	At        time.Time `bson:"at"`
}

// keyList lists every suspended key from auth's records, read-only as
// account show reads them (the database, not the bus: a read needs no
// request to auth and no bus permission). A key is suspended by auth's
// rule (see accountKeys): it has a suspension record, no revocation record
// and its document exists and does not say revoked; a record left behind
// by a key revoked or deleted since is not listed.
func (e *env) keyList(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("key list", flag.ContinueOnError)
	suspended := fs.Bool("suspended", false, "list the suspended keys (required: the one list there is; an account's keys are in account show)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), `usage: onekeyctl key list --suspended

Lists every key an operator suspended and nobody restored yet, oldest
first: suspended since, key id, account id, actor, reason. Reads auth's
records in the database; writes nothing.`)
		fs.PrintDefaults()
	}
	if _, err := parse(fs, args, 0, e.out); err != nil {
		return err
	}
	if !*suspended {
		fs.Usage()
		return fmt.Errorf("%w: key list needs --suspended", errUsage)
	}
	st, err := e.store(ctx)
	if err != nil {
		return err
	}
	cur, err := st.Collection(collKeySuspensions).Find(ctx, bson.D{},
		options.Find().SetSort(bson.D{{Key: "at", Value: 1}, {Key: "_id", Value: 1}}))
	if err != nil {
		return fmt.Errorf("read %s: %w", collKeySuspensions, err)
	}
	var recs []suspensionRecord
	if err := cur.All(ctx, &recs); err != nil {
		return fmt.Errorf("read %s: %w", collKeySuspensions, err)
	}
	ids := make([]string, len(recs))
	for i, r := range recs {
		ids[i] = r.KeyID
	}
	inIDs := bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}}
	var docs []apiKey
	var revs []struct {
		ID string `bson:"_id"`
	}
	if len(ids) > 0 {
		if err := findAll(ctx, e, collKeys, inIDs, &docs); err != nil {
			return err
		}
		if err := findAll(ctx, e, collKeyRevocations, inIDs, &revs); err != nil {
			return err
		}
	}
	live := make(map[string]bool, len(docs))
	for _, d := range docs {
		live[d.ID] = d.Status != events.KeyRevoked
	}
	for _, r := range revs {
		live[r.ID] = false
	}
	n := 0
	for _, r := range recs {
		if !live[r.KeyID] {
			continue
		}
		n++
		fmt.Fprintf(e.out, "%s\t%s\t%s\t%s\t%q\n", r.At.UTC().Format(time.RFC3339), r.KeyID, r.AccountID, r.Actor, r.Reason)
	}
	fmt.Fprintf(e.out, "%d suspended key(s)\n", n)
	return nil
}

// findAll reads every document of coll that matches filter into out.
func findAll(ctx context.Context, e *env, coll string, filter bson.D, out any) error {
	cur, err := e.st.Collection(coll).Find(ctx, filter)
	if err != nil {
		return fmt.Errorf("read %s: %w", coll, err)
	}
	if err := cur.All(ctx, out); err != nil {
		return fmt.Errorf("read %s: %w", coll, err)
	}
	return nil
}
