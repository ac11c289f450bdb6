// Package ledgerdb is the ledger's MongoDB adapter: the documents of the
// collections the ledger owns and the few operations the writer needs.
//
// Every operation here addresses documents by _id or inserts them: on
// FerretDB (DESIGN.md §3) any other query scans the collection, so the hot
// path uses none. Nothing here decides anything; the writer orders the
// calls so that each one is idempotent on its own.
package ledgerdb

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/api/readmodel"
	"github.com/onekey-oss/onekey/pkg/store"
	"github.com/onekey-oss/onekey/services/ledger/internal/book"
)

// CollBatches holds the write-ahead record of the batch being written (at
// most one at a time, deleted once the batch is complete).
const CollBatches = "ledger_batches"

// DB is the ledger's view of the database. Safe for concurrent use, but
// the ledger writes from one goroutine.
type DB struct {
	st *store.Store
}

// New wraps st.
func New(st *store.Store) *DB { return &DB{st: st} }

// Indexes the ledger needs. The unique (account_id, seq) index makes two
// writers that would number entries of one account alike fail loudly.
func Indexes() []store.Index {
	return []store.Index{
		{Collection: readmodel.CollJournal, Keys: bson.D{{Key: "account_id", Value: 1}, {Key: "seq", Value: 1}}, Unique: true, Name: "account_seq"},
		{Collection: readmodel.CollUsage, Keys: bson.D{{Key: "account_id", Value: 1}, {Key: "time", Value: -1}}, Name: "account_time"},
		{Collection: readmodel.CollRollups, Keys: bson.D{{Key: "account_id", Value: 1}, {Key: "day", Value: 1}}, Name: "account_day"},
	}
}

// AccountDoc is a document of "accounts": the readmodel fields plus what
// the ledger needs for itself.
type AccountDoc struct {
	ID               string           `bson:"_id"`
	BalanceMicros    int64            `bson:"balance_micros"`
	FreeRequestsLeft int64            `bson:"free_requests_left"`
	LowBalanceMicros int64            `bson:"low_balance_micros"`
	Opened           bool             `bson:"opened"`
	CreatedAt        time.Time        `bson:"created_at"`
	UpdatedAt        time.Time        `bson:"updated_at"`
	Seq              int64            `bson:"seq"`
	KeySpendMicros   map[string]int64 `bson:"key_spend_micros,omitempty"`
	// Leases are the replicas' lease counters; LeasedMicros and LeasedFree
	// what stays leased in all; HasLeases is set while anything is leased,
	// so a starting ledger finds the leases it must watch.
	Leases       map[string]LeaseDoc `bson:"leases,omitempty"`
	LeasedMicros int64               `bson:"leased_micros,omitempty"`
	LeasedFree   int64               `bson:"leased_free,omitempty"`
	HasLeases    bool                `bson:"has_leases,omitempty"`
	// The dashboard's read-model bookkeeping (readmodel.Account).
	ReadModels  int    `bson:"read_models,omitempty"`
	UsageDays   string `bson:"usage_days,omitempty"`
	PaymentsSeq int64  `bson:"payments_seq,omitempty"`
}

// LeaseDoc is one replica's lease counters (events.Lease).
type LeaseDoc struct {
	GrantedMicros int64 `bson:"granted_micros"`
	UsedMicros    int64 `bson:"used_micros"`
	GrantedFree   int64 `bson:"granted_free"`
	UsedFree      int64 `bson:"used_free"`
}

// LeasesToDoc converts an account's leases.
func LeasesToDoc(m map[string]events.Lease) map[string]LeaseDoc {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]LeaseDoc, len(m))
	for r, l := range m {
		out[r] = LeaseDoc{GrantedMicros: int64(l.GrantedMicros), UsedMicros: int64(l.UsedMicros), GrantedFree: l.GrantedFree, UsedFree: l.UsedFree}
	}
	return out
}

// ToAccount converts the document to the ledger's state.
func (d AccountDoc) ToAccount() book.Account {
	a := book.Account{ID: d.ID, Balance: money.Micros(d.BalanceMicros), Free: d.FreeRequestsLeft, Seq: d.Seq,
		Opened: d.Opened, LowThreshold: money.Micros(d.LowBalanceMicros), CreatedAt: d.CreatedAt,
		PaymentsSeq: d.PaymentsSeq, ReadModels: d.ReadModels}
	// The ledger writes usage_days itself; a value it cannot read (never
	// seen) is dropped and rebuilt by the next usage of each day.
	if days, err := readmodel.ParseUsageDays(d.UsageDays); err == nil && len(days) > 0 {
		a.UsageDays = days
	}
	if len(d.KeySpendMicros) > 0 {
		a.KeySpend = make(map[string]money.Micros, len(d.KeySpendMicros))
		for k, v := range d.KeySpendMicros {
			a.KeySpend[k] = money.Micros(v)
		}
	}
	if len(d.Leases) > 0 {
		a.Leases = make(map[string]events.Lease, len(d.Leases))
		for r, l := range d.Leases {
			v := events.Lease{GrantedMicros: money.Micros(l.GrantedMicros), UsedMicros: money.Micros(l.UsedMicros), GrantedFree: l.GrantedFree, UsedFree: l.UsedFree}
			a.Leases[r] = v
			m, f := v.Outstanding()
			a.Leased += m
			a.LeasedFree += f
		}
	}
	return a
}

// EntryDoc is a document of "journal". It never changes once inserted.
type EntryDoc struct {
	ID           string `bson:"_id"` // the event id
	AccountID    string `bson:"account_id"`
	Seq          int64  `bson:"seq"`
	Kind         string `bson:"kind"`
	AmountMicros int64  `bson:"amount_micros"`
	FreeDelta    int64  `bson:"free_delta"`
	KeyID        string `bson:"key_id,omitempty"`
	CostMicros   int64  `bson:"cost_micros,omitempty"`
	CreditKind   string `bson:"credit_kind,omitempty"`
	Method       string `bson:"method,omitempty"`
	Fingerprint  string `bson:"fingerprint"`
	// ThresholdMicros is a settings entry's low-balance threshold.
	ThresholdMicros int64     `bson:"threshold_micros,omitempty"`
	Time            time.Time `bson:"time"`
	AppliedAt       time.Time `bson:"applied_at"`
	Batch           string    `bson:"batch"`
	// A replica's lease counters' changes (usage of a replica, lease
	// entries).
	Replica        string `bson:"replica,omitempty"`
	GrantDelta     int64  `bson:"grant_delta,omitempty"`
	GrantFreeDelta int64  `bson:"grant_free_delta,omitempty"`
	UseDelta       int64  `bson:"use_delta,omitempty"`
	UseFreeDelta   int64  `bson:"use_free_delta,omitempty"`
}

// EntryToDoc converts a journal entry.
func EntryToDoc(e book.Entry, batch string, now time.Time) EntryDoc {
	return EntryDoc{ID: e.ID, AccountID: e.Account, Seq: e.Seq, Kind: e.Kind, AmountMicros: int64(e.Amount),
		FreeDelta: e.FreeDelta, KeyID: e.KeyID, CostMicros: int64(e.Cost), CreditKind: e.CreditKind, Method: e.Method,
		Fingerprint: e.Fingerprint, ThresholdMicros: int64(e.Threshold), Time: e.Time.UTC(), AppliedAt: now.UTC(), Batch: batch,
		Replica: e.Replica, GrantDelta: int64(e.GrantDelta), GrantFreeDelta: e.GrantFreeDelta,
		UseDelta: int64(e.UseDelta), UseFreeDelta: e.UseFreeDelta}
}

// ToEntry converts the document back.
func (d EntryDoc) ToEntry() book.Entry {
	return book.Entry{ID: d.ID, Account: d.AccountID, Seq: d.Seq, Kind: d.Kind, Amount: money.Micros(d.AmountMicros),
		FreeDelta: d.FreeDelta, KeyID: d.KeyID, Cost: money.Micros(d.CostMicros), CreditKind: d.CreditKind,
		Method: d.Method, Fingerprint: d.Fingerprint, Threshold: money.Micros(d.ThresholdMicros), Time: d.Time,
		Replica: d.Replica, GrantDelta: money.Micros(d.GrantDelta), GrantFreeDelta: d.GrantFreeDelta,
		UseDelta: money.Micros(d.UseDelta), UseFreeDelta: d.UseFreeDelta}
}

// UsageDoc is a document of "usage": one request's metadata, removed by
// the sweeper at expires_at. Counts that are often zero and flags that are
// usually false are left out when they are: a row is written per request,
// and the database's cost per row grows with its size (a missing field
// reads back as zero or false).
type UsageDoc struct {
	ID                string    `bson:"_id"`
	AccountID         string    `bson:"account_id"`
	ProjectID         string    `bson:"project_id"`
	KeyID             string    `bson:"key_id"`
	Model             string    `bson:"model"`
	Provider          string    `bson:"provider"`
	Channel           string    `bson:"channel,omitempty"`
	Time              time.Time `bson:"time"`
	InputTokens       int64     `bson:"input_tokens"`
	CachedInputTokens int64     `bson:"cached_input_tokens,omitempty"`
	CacheWriteTokens  int64     `bson:"cache_write_tokens,omitempty"`
	OutputTokens      int64     `bson:"output_tokens"`
	ReasoningTokens   int64     `bson:"reasoning_tokens,omitempty"`
	CostMicros        int64     `bson:"cost_micros"`
	ChargedMicros     int64     `bson:"charged_micros"`
	Free              bool      `bson:"free,omitempty"`
	LatencyMS         int64     `bson:"latency_ms"`
	TTFBMS            int64     `bson:"ttfb_ms"`
	Streamed          bool      `bson:"streamed,omitempty"`
	Status            int       `bson:"status"`
	Estimated         bool      `bson:"estimated,omitempty"`
	ExpiresAt         time.Time `bson:"expires_at"`
}

// BatchDoc is the write-ahead record of one batch: written before any of
// the batch's journal entries, deleted after its last write. If the ledger
// stops in between, the next start finds it and finishes the batch from it.
type BatchDoc struct {
	ID      string    `bson:"_id"`
	Created time.Time `bson:"created"`
	// Partition is the ledger partition that wrote it ("<p>of<n>"; empty
	// with one partition, as before partitions): each partition finishes
	// only its own.
	Partition string       `bson:"partition,omitempty"`
	Bases     []AccountDoc `bson:"bases"` // each touched account as it was before the batch
	// Entries are the entries the batch tries to insert, in order. They
	// are stored gzipped in Packed: the record is written and deleted once
	// per batch, and FerretDB's cost grows with the document's size.
	Entries []BatchEntry `bson:"-"`
	Packed  []byte       `bson:"packed"`
}

func (b *BatchDoc) pack() error {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed) // a valid level never fails
	if err := json.NewEncoder(zw).Encode(b.Entries); err != nil {
		return fmt.Errorf("pack batch %s: %w", b.ID, err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("pack batch %s: %w", b.ID, err)
	}
	b.Packed = buf.Bytes()
	return nil
}

func (b *BatchDoc) unpack() error {
	zr, err := gzip.NewReader(bytes.NewReader(b.Packed))
	if err != nil {
		return fmt.Errorf("unpack batch %s: %w", b.ID, err)
	}
	if err := json.NewDecoder(zr).Decode(&b.Entries); err != nil {
		return fmt.Errorf("unpack batch %s: %w", b.ID, err)
	}
	return nil
}

// BatchEntry is one entry of a batch with what its later writes need.
type BatchEntry struct {
	Entry EntryDoc  `bson:"entry"`
	Usage *UsageDoc `bson:"usage,omitempty"`
}

// CollOutcomes holds, for the batch being written, which of its entries
// the journal refused as duplicates: written right after the journal
// insert, so that finishing the batch after a stop needs no reads of the
// journal.
const CollOutcomes = "ledger_batch_outcomes"

// OutcomeDoc is a document of CollOutcomes, _id = batch id.
type OutcomeDoc struct {
	ID      string   `bson:"_id"`
	Refused []string `bson:"refused"`
}

// PutOutcome records which entries of a batch the journal refused.
func (db *DB) PutOutcome(ctx context.Context, o OutcomeDoc) error {
	if _, err := db.st.Collection(CollOutcomes).InsertOne(ctx, o); err != nil && !store.IsDuplicate(err) {
		return fmt.Errorf("write outcome of batch %s: %w", o.ID, err)
	}
	return nil
}

// Outcome reads the outcome of a batch, if it was written.
func (db *DB) Outcome(ctx context.Context, batch string) (OutcomeDoc, bool, error) {
	var o OutcomeDoc
	err := db.st.Collection(CollOutcomes).FindOne(ctx, bson.D{{Key: "_id", Value: batch}}).Decode(&o)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return OutcomeDoc{}, false, nil
	}
	if err != nil {
		return OutcomeDoc{}, false, fmt.Errorf("read outcome of batch %s: %w", batch, err)
	}
	return o, true, nil
}

// LoadAccount reads one account; found is false when it has no document.
func (db *DB) LoadAccount(ctx context.Context, id string) (AccountDoc, bool, error) {
	var d AccountDoc
	err := db.st.Collection(readmodel.CollAccounts).FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return AccountDoc{}, false, nil
	}
	if err != nil {
		return AccountDoc{}, false, fmt.Errorf("load account %s: %w", id, err)
	}
	return d, true, nil
}

// PutBatch stores the write-ahead record.
func (db *DB) PutBatch(ctx context.Context, b BatchDoc) error {
	if err := b.pack(); err != nil {
		return err
	}
	if _, err := db.st.Collection(CollBatches).InsertOne(ctx, b); err != nil && !store.IsDuplicate(err) {
		return fmt.Errorf("write batch record %s: %w", b.ID, err)
	}
	return nil
}

// DeleteBatch removes the record of a finished batch.
func (db *DB) DeleteBatch(ctx context.Context, id string) error {
	if _, err := db.st.Collection(CollBatches).DeleteOne(ctx, bson.D{{Key: "_id", Value: id}}); err != nil {
		return fmt.Errorf("delete batch record %s: %w", id, err)
	}
	if _, err := db.st.Collection(CollOutcomes).DeleteOne(ctx, bson.D{{Key: "_id", Value: id}}); err != nil {
		return fmt.Errorf("delete outcome of batch %s: %w", id, err)
	}
	return nil
}

// PendingBatches returns the records of partition's unfinished batches,
// oldest first. The collection holds at most a few documents per
// partition, so reading it whole is cheap.
func (db *DB) PendingBatches(ctx context.Context, partition string) ([]BatchDoc, error) {
	cur, err := db.st.Collection(CollBatches).Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "created", Value: 1}, {Key: "_id", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("read batch records: %w", err)
	}
	var all, out []BatchDoc
	if err := cur.All(ctx, &all); err != nil {
		return nil, fmt.Errorf("read batch records: %w", err)
	}
	for _, b := range all {
		if b.Partition != partition {
			continue
		}
		if err := b.unpack(); err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// InsertEntries inserts journal entries, unordered, and returns the
// indexes of those refused as duplicates. Any other failure is an error.
func (db *DB) InsertEntries(ctx context.Context, docs []EntryDoc) (dups map[int]bool, err error) {
	if len(docs) == 0 {
		return nil, nil
	}
	in := make([]any, len(docs))
	for i := range docs {
		in[i] = docs[i]
	}
	return insertUnordered(ctx, db.st.Collection(readmodel.CollJournal), in)
}

// Entries reads the journal entries with the given event ids, in one
// query, keyed by id; ids without an entry are absent. The writer calls it
// only for ids the journal refused (redeliveries), which are rare.
func (db *DB) Entries(ctx context.Context, ids []string) (map[string]EntryDoc, error) {
	out := make(map[string]EntryDoc, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	cur, err := db.st.Collection(readmodel.CollJournal).Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}})
	if err != nil {
		return nil, fmt.Errorf("read %d journal entries: %w", len(ids), err)
	}
	var docs []EntryDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("read %d journal entries: %w", len(ids), err)
	}
	for _, d := range docs {
		out[d.ID] = d
	}
	return out, nil
}

// InsertUsage inserts usage rows; rows already there are left as they are.
func (db *DB) InsertUsage(ctx context.Context, docs []UsageDoc) error {
	if len(docs) == 0 {
		return nil
	}
	in := make([]any, len(docs))
	for i := range docs {
		in[i] = docs[i]
	}
	_, err := insertUnordered(ctx, db.st.Collection(readmodel.CollUsage), in)
	return err
}

func insertUnordered(ctx context.Context, c *mongo.Collection, docs []any) (map[int]bool, error) {
	_, err := c.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
	if err == nil {
		return nil, nil
	}
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) || bwe.WriteConcernError != nil || len(bwe.WriteErrors) == 0 {
		return nil, fmt.Errorf("insert into %s: %w", c.Name(), err)
	}
	dups := map[int]bool{}
	for _, we := range bwe.WriteErrors {
		if !mongo.IsDuplicateKeyError(we) {
			return nil, fmt.Errorf("insert into %s: %w", c.Name(), err)
		}
		dups[we.Index] = true
	}
	return dups, nil
}

// RollupDelta is what one batch adds to one rollup.
type RollupDelta struct {
	ID, AccountID, Day, Model, KeyID, ProjectID                                string
	Requests, Errors, InputTokens, CachedInputTokens, OutputTokens, CostMicros int64
	// ChargedMicros is what was debited (a free request: nothing);
	// FreeRequests counts the requests a free request paid for.
	ChargedMicros, FreeRequests int64
}

// Add folds one usage row into the delta.
func (r *RollupDelta) Add(u UsageDoc) {
	r.Requests++
	if u.Status >= 400 {
		r.Errors++
	}
	r.InputTokens += u.InputTokens
	r.CachedInputTokens += u.CachedInputTokens
	r.OutputTokens += u.OutputTokens
	r.CostMicros += u.CostMicros
	r.ChargedMicros += u.ChargedMicros
	if u.Free {
		r.FreeRequests++
	}
}

// ApplyRollups adds each delta to its rollup and marks the rollup with the
// batch id, so that a batch finished again after a crash can tell which of
// its rollups it had already added to (see RollupBatch).
func (db *DB) ApplyRollups(ctx context.Context, batch string, deltas []RollupDelta) error {
	if len(deltas) == 0 {
		return nil
	}
	models := make([]mongo.WriteModel, 0, len(deltas))
	for _, r := range deltas {
		models = append(models, mongo.NewUpdateOneModel().
			SetFilter(bson.D{{Key: "_id", Value: r.ID}}).
			SetUpdate(bson.D{
				{Key: "$inc", Value: bson.D{
					{Key: "requests", Value: r.Requests}, {Key: "errors", Value: r.Errors},
					{Key: "input_tokens", Value: r.InputTokens}, {Key: "cached_input_tokens", Value: r.CachedInputTokens},
					{Key: "output_tokens", Value: r.OutputTokens}, {Key: "cost_micros", Value: r.CostMicros},
					{Key: "charged_micros", Value: r.ChargedMicros}, {Key: "free_requests", Value: r.FreeRequests},
				}},
				{Key: "$set", Value: bson.D{{Key: "batch", Value: batch}}},
				{Key: "$setOnInsert", Value: bson.D{
					{Key: "account_id", Value: r.AccountID}, {Key: "day", Value: r.Day}, {Key: "model", Value: r.Model},
					{Key: "key_id", Value: r.KeyID}, {Key: "project_id", Value: r.ProjectID},
				}},
			}).SetUpsert(true))
	}
	if err := bulkWrite(ctx, db.st.Collection(readmodel.CollRollups), models); err != nil {
		return fmt.Errorf("update %d rollups: %w", len(deltas), err)
	}
	return nil
}

// RollupBatch returns the id of the batch that last added to a rollup ("" if
// the rollup does not exist).
func (db *DB) RollupBatch(ctx context.Context, id string) (string, error) {
	var d struct {
		Batch string `bson:"batch"`
	}
	err := db.st.Collection(readmodel.CollRollups).FindOne(ctx, bson.D{{Key: "_id", Value: id}},
		options.FindOne().SetProjection(bson.D{{Key: "batch", Value: 1}})).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read rollup %s: %w", id, err)
	}
	return d.Batch, nil
}

// SaveAccounts writes each account's state: absolute values, so writing
// the same state twice changes nothing. created_at is set only when the
// document is created; the low-balance threshold is the account's (new
// accounts get the configured default, account.settings changes it), so
// defaultLow is no longer read.
func (db *DB) SaveAccounts(ctx context.Context, accounts []book.Account, defaultLow money.Micros, now time.Time) error {
	if len(accounts) == 0 {
		return nil
	}
	models := make([]mongo.WriteModel, 0, len(accounts))
	for _, a := range accounts {
		spend := bson.D{}
		for k, v := range a.KeySpend {
			spend = append(spend, bson.E{Key: k, Value: int64(v)})
		}
		created := a.CreatedAt
		if created.IsZero() {
			created = now
		}
		leases := bson.D{}
		for r, l := range LeasesToDoc(a.Leases) {
			leases = append(leases, bson.E{Key: r, Value: l})
		}
		models = append(models, mongo.NewUpdateOneModel().
			SetFilter(bson.D{{Key: "_id", Value: a.ID}}).
			SetUpdate(bson.D{
				{Key: "$set", Value: bson.D{
					{Key: "balance_micros", Value: int64(a.Balance)}, {Key: "free_requests_left", Value: a.Free},
					{Key: "opened", Value: a.Opened}, {Key: "seq", Value: a.Seq}, {Key: "low_balance_micros", Value: int64(a.LowThreshold)},
					{Key: "key_spend_micros", Value: spend}, {Key: "updated_at", Value: now.UTC()},
					{Key: "leases", Value: leases}, {Key: "leased_micros", Value: int64(a.Leased)},
					{Key: "leased_free", Value: a.LeasedFree}, {Key: "has_leases", Value: a.Leased > 0 || a.LeasedFree > 0},
					{Key: "usage_days", Value: readmodel.FormatUsageDays(a.UsageDays)}, {Key: "payments_seq", Value: a.PaymentsSeq},
					{Key: "read_models", Value: a.ReadModels},
				}},
				{Key: "$setOnInsert", Value: bson.D{
					{Key: "created_at", Value: created.UTC()},
				}},
			}).SetUpsert(true))
	}
	if err := bulkWrite(ctx, db.st.Collection(readmodel.CollAccounts), models); err != nil {
		return fmt.Errorf("update %d accounts: %w", len(accounts), err)
	}
	return nil
}

// maxUpdatesPerCommand bounds one update command. FerretDB v1.24 on SQLite
// holds a database connection for each updated document until the command
// ends; past its pool size (100) one command waits for itself for ever.
const maxUpdatesPerCommand = 50

// bulkWrite sends models in commands of at most maxUpdatesPerCommand.
func bulkWrite(ctx context.Context, c *mongo.Collection, models []mongo.WriteModel) error {
	for len(models) > 0 {
		n := min(len(models), maxUpdatesPerCommand)
		if _, err := c.BulkWrite(ctx, models[:n], options.BulkWrite().SetOrdered(true)); err != nil {
			return err
		}
		models = models[n:]
	}
	return nil
}

// LeasedAccounts returns the ids of the accounts with something leased,
// read once at start-up (a scan on FerretDB: there is no index on it).
func (db *DB) LeasedAccounts(ctx context.Context) ([]string, error) {
	cur, err := db.st.Collection(readmodel.CollAccounts).Find(ctx, bson.D{{Key: "has_leases", Value: true}},
		options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("find leased accounts: %w", err)
	}
	var docs []struct {
		ID string `bson:"_id"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("find leased accounts: %w", err)
	}
	ids := make([]string, len(docs))
	for i, d := range docs {
		ids[i] = d.ID
	}
	return ids, nil
}
