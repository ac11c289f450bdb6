package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/readmodel"
	"github.com/onekey-oss/onekey/services/ledger/internal/ledgerdb"
)

// KV balances is a copy of the accounts collection, written by the writer
// after each batch it saves, and normally never behind it. After a restore
// it can be either way: older than the database (the streams, which hold
// the bucket, copied first, as the README says) or newer (the database
// copied first, or a MongoDB rollback of writes the ledger had published).
// It would stay so for each account until the account next changes. So at
// every start of the writer, republish sets every entry of this partition
// that differs from its account document to the document's value (also
// back to a lower seq: the database is the ledger's truth), creates a
// missing one, and deletes one whose account the database does not have.
//
// It runs beside the writer's loop, which may write the same entries. It
// is safe because it reads each entry, then the account document, and
// writes with a compare-and-set on the entry's revision: the writer saves
// a document before it puts its entry, so an entry put after the read
// fails the set (and is newer), and one put before it was saved before the
// document was read (which is then at least as new). A running gateway
// keeps a balance whose seq is higher than the one it is given, so after
// a restore that leaves KV ahead of the database, the gateways start (or
// restart) after the ledger has logged "balances republished".

// republishBatch is how many accounts republish reads at once.
const republishBatch = 256

// republishStats counts what one republish did.
type republishStats struct {
	checked, written, deleted, skipped int
}

// republishBalances runs republish until it succeeds or ctx ends, retrying
// with a backoff (a full pass each time: every step is idempotent).
func (s *Service) republishBalances(ctx context.Context) {
	backoff := s.cfg.RetryBackoff
	for {
		start := time.Now()
		st, err := s.republish(ctx)
		if err == nil {
			s.log.Info("ledger: balances republished", "checked", st.checked, "written", st.written,
				"deleted", st.deleted, "changed_meanwhile", st.skipped, "took", time.Since(start))
			return
		}
		if ctx.Err() != nil {
			return
		}
		s.log.Error("ledger: republishing KV balances failed; retrying", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Minute)
	}
}

// republish makes every entry of this partition in KV balances equal to
// its account document, as the package comment above says.
func (s *Service) republish(ctx context.Context) (republishStats, error) {
	var st republishStats
	cur, err := s.st.Collection(readmodel.CollAccounts).Find(ctx, bson.D{},
		options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}).SetSort(bson.D{{Key: "_id", Value: 1}}).SetBatchSize(republishBatch))
	if err != nil {
		return st, fmt.Errorf("republish balances: list accounts: %w", err)
	}
	defer cur.Close(ctx)
	var ids []string
	for cur.Next(ctx) {
		var d struct {
			ID string `bson:"_id"`
		}
		if err := cur.Decode(&d); err != nil {
			return st, fmt.Errorf("republish balances: list accounts: %w", err)
		}
		if !s.owns(d.ID) {
			continue
		}
		if ids = append(ids, d.ID); len(ids) == republishBatch {
			if err := s.republishAccounts(ctx, ids, &st); err != nil {
				return st, err
			}
			ids = ids[:0]
		}
	}
	if err := cur.Err(); err != nil {
		return st, fmt.Errorf("republish balances: list accounts: %w", err)
	}
	if err := s.republishAccounts(ctx, ids, &st); err != nil {
		return st, err
	}
	// Entries of accounts the database does not have (a database older
	// than the account): each is then checked the same way, so an account
	// the writer opens meanwhile keeps its entry.
	keys, err := s.kv.ListKeys(ctx)
	if err != nil {
		return st, fmt.Errorf("republish balances: list entries: %w", err)
	}
	// Drained first: the lister's goroutine blocks on a reader that stops.
	var owned []string
	for k := range keys.Keys() {
		if s.owns(k) {
			owned = append(owned, k)
		}
	}
	if err := ctx.Err(); err != nil {
		return st, err // the list may have been cut short
	}
	for len(owned) > 0 {
		n := min(len(owned), republishBatch)
		missing, err := s.withoutAccount(ctx, owned[:n])
		if err != nil {
			return st, err
		}
		if err := s.republishAccounts(ctx, missing, &st); err != nil {
			return st, err
		}
		owned = owned[n:]
	}
	return st, nil
}

// withoutAccount returns the ids of ids that have no account document.
func (s *Service) withoutAccount(ctx context.Context, ids []string) ([]string, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	cur, err := s.st.Collection(readmodel.CollAccounts).Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}},
		options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("republish balances: read accounts: %w", err)
	}
	var docs []struct {
		ID string `bson:"_id"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("republish balances: read accounts: %w", err)
	}
	have := make(map[string]bool, len(docs))
	for _, d := range docs {
		have[d.ID] = true
	}
	var out []string
	for _, id := range ids {
		if !have[id] {
			out = append(out, id)
		}
	}
	return out, nil
}

// republishAccounts reads the entries of ids, then their documents, and
// sets each entry that differs.
func (s *Service) republishAccounts(ctx context.Context, ids []string, st *republishStats) error {
	if len(ids) == 0 {
		return nil
	}
	entries := make([]jetstream.KeyValueEntry, len(ids))
	errs := make([]error, len(ids))
	sem := make(chan struct{}, maxBalancePuts)
	var wg sync.WaitGroup
	for i := range ids {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			e, err := s.kv.Get(ctx, ids[i])
			if err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
				errs[i] = fmt.Errorf("republish balances: read entry %s: %w", ids[i], err)
			}
			entries[i] = e
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	cur, err := s.st.Collection(readmodel.CollAccounts).Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}})
	if err != nil {
		return fmt.Errorf("republish balances: read accounts: %w", err)
	}
	var docs []ledgerdb.AccountDoc
	if err := cur.All(ctx, &docs); err != nil {
		return fmt.Errorf("republish balances: read accounts: %w", err)
	}
	byID := make(map[string]ledgerdb.AccountDoc, len(docs))
	for _, d := range docs {
		byID[d.ID] = d
	}
	for i, id := range ids {
		doc, ok := byID[id]
		if !ok && entries[i] == nil {
			continue // in neither (its entry deleted since it was listed)
		}
		st.checked++
		var err error
		switch {
		case !ok:
			err = s.kv.Delete(ctx, id, jetstream.LastRevision(entries[i].Revision()))
			if err == nil {
				st.deleted++
			}
		default:
			v := balanceValue(doc.ToAccount(), doc.UpdatedAt.UTC())
			if entries[i] != nil && sameBalance(entries[i].Value(), v) {
				continue
			}
			raw, merr := json.Marshal(v)
			if merr != nil {
				return fmt.Errorf("republish balances: encode %s: %w", id, merr)
			}
			if entries[i] == nil {
				_, err = s.kv.Create(ctx, id, raw)
			} else {
				_, err = s.kv.Update(ctx, id, raw, entries[i].Revision())
			}
			if err == nil {
				st.written++
			}
		}
		switch {
		case err == nil:
		case casConflict(err):
			st.skipped++ // written since it was read: by the writer, from a newer document
		default:
			return fmt.Errorf("republish balances: write entry %s: %w", id, err)
		}
	}
	return nil
}

// casConflict reports whether err is a compare-and-set that lost: the
// entry was written since it was read (a create, update or delete; R1 and
// replicated streams report it with different codes).
func casConflict(err error) bool {
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return true
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// sameBalance reports whether raw (an entry's value) says what v says,
// whenever each was written.
func sameBalance(raw []byte, v events.BalanceV1) bool {
	var cur events.BalanceV1
	if err := json.Unmarshal(raw, &cur); err != nil {
		return false
	}
	cur.UpdatedAt = v.UpdatedAt
	return reflect.DeepEqual(cur, v)
}
