package ledgerdb

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/onekey-oss/onekey/api/readmodel"
)

// The dashboard's read models (api/readmodel/views.go): usage_days and
// account_payments, read and written by _id, with absolute values.

// LoadUsageDay reads one usage_days document.
func (db *DB) LoadUsageDay(ctx context.Context, id string) (readmodel.UsageDay, bool, error) {
	var d readmodel.UsageDay
	err := db.st.Collection(readmodel.CollUsageDays).FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return readmodel.UsageDay{}, false, nil
	}
	if err != nil {
		return readmodel.UsageDay{}, false, fmt.Errorf("read usage day %s: %w", id, err)
	}
	return d, true, nil
}

// SaveUsageDays writes each document whole: writing the same one twice
// changes nothing.
func (db *DB) SaveUsageDays(ctx context.Context, days []readmodel.UsageDay) error {
	models := make([]mongo.WriteModel, 0, len(days))
	for _, d := range days {
		models = append(models, mongo.NewUpdateOneModel().
			SetFilter(bson.D{{Key: "_id", Value: d.ID}}).
			SetUpdate(bson.D{{Key: "$set", Value: bson.D{
				{Key: "account_id", Value: d.AccountID}, {Key: "day", Value: d.Day}, {Key: "seq", Value: d.Seq},
				{Key: "groups", Value: d.Groups}, {Key: "expires_at", Value: d.ExpiresAt.UTC()},
			}}}).SetUpsert(true))
	}
	if err := bulkWrite(ctx, db.st.Collection(readmodel.CollUsageDays), models); err != nil {
		return fmt.Errorf("write %d usage days: %w", len(days), err)
	}
	return nil
}

// LoadPayments reads an account's payments document.
func (db *DB) LoadPayments(ctx context.Context, account string) (readmodel.Payments, bool, error) {
	var d readmodel.Payments
	err := db.st.Collection(readmodel.CollPayments).FindOne(ctx, bson.D{{Key: "_id", Value: account}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return readmodel.Payments{}, false, nil
	}
	if err != nil {
		return readmodel.Payments{}, false, fmt.Errorf("read payments of %s: %w", account, err)
	}
	return d, true, nil
}

// SavePayments writes each payments document whole.
func (db *DB) SavePayments(ctx context.Context, docs []readmodel.Payments) error {
	models := make([]mongo.WriteModel, 0, len(docs))
	for _, d := range docs {
		models = append(models, mongo.NewUpdateOneModel().
			SetFilter(bson.D{{Key: "_id", Value: d.ID}}).
			SetUpdate(bson.D{{Key: "$set", Value: bson.D{{Key: "seq", Value: d.Seq}, {Key: "entries", Value: d.Entries}}}}).
			SetUpsert(true))
	}
	if err := bulkWrite(ctx, db.st.Collection(readmodel.CollPayments), models); err != nil {
		return fmt.Errorf("write %d payments documents: %w", len(docs), err)
	}
	return nil
}

// CollMeta holds the ledger's one-time migrations done, by name.
const CollMeta = "ledger_meta"

// Done reports whether the migration named has been recorded as done.
func (db *DB) Done(ctx context.Context, name string) (bool, error) {
	err := db.st.Collection(CollMeta).FindOne(ctx, bson.D{{Key: "_id", Value: name}}).Err()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read migration %s: %w", name, err)
	}
	return true, nil
}

// MarkDone records a migration as done.
func (db *DB) MarkDone(ctx context.Context, name string) error {
	if _, err := db.st.Collection(CollMeta).InsertOne(ctx, bson.D{{Key: "_id", Value: name}}); err != nil && !mongo.IsDuplicateKeyError(err) {
		return fmt.Errorf("record migration %s: %w", name, err)
	}
	return nil
}

// RollupsSince reads every rollup of the UTC days ≥ day (a scan on
// FerretDB: for the one-time backfill only).
func (db *DB) RollupsSince(ctx context.Context, day string) ([]readmodel.Rollup, error) {
	cur, err := db.st.Collection(readmodel.CollRollups).Find(ctx, bson.D{{Key: "day", Value: bson.D{{Key: "$gte", Value: day}}}},
		options.Find().SetProjection(bson.D{{Key: "batch", Value: 0}}))
	if err != nil {
		return nil, fmt.Errorf("read rollups since %s: %w", day, err)
	}
	var out []readmodel.Rollup
	if err := cur.All(ctx, &out); err != nil {
		return nil, fmt.Errorf("read rollups since %s: %w", day, err)
	}
	return out, nil
}

// CreditEntries reads every credit of the journal (a scan on FerretDB:
// for the one-time backfill only).
func (db *DB) CreditEntries(ctx context.Context) ([]EntryDoc, error) {
	cur, err := db.st.Collection(readmodel.CollJournal).Find(ctx, bson.D{{Key: "kind", Value: readmodel.JournalCredit}})
	if err != nil {
		return nil, fmt.Errorf("read credits: %w", err)
	}
	var out []EntryDoc
	if err := cur.All(ctx, &out); err != nil {
		return nil, fmt.Errorf("read credits: %w", err)
	}
	return out, nil
}

// AccountViews is what the backfill sets on one account document.
type AccountViews struct {
	ID          string
	UsageDays   map[string]int64
	PaymentsSeq int64
}

// SetAccountViews sets the read-model fields of existing account
// documents, marking them kept, then marks every other account that owns
// reports as this writer's kept (it has no usage in the days kept and no
// payments).
func (db *DB) SetAccountViews(ctx context.Context, views []AccountViews, owns func(account string) bool) error {
	models := make([]mongo.WriteModel, 0, len(views))
	for _, v := range views {
		models = append(models, mongo.NewUpdateOneModel().
			SetFilter(bson.D{{Key: "_id", Value: v.ID}}).
			SetUpdate(bson.D{{Key: "$set", Value: bson.D{
				{Key: "usage_days", Value: readmodel.FormatUsageDays(v.UsageDays)}, {Key: "payments_seq", Value: v.PaymentsSeq},
				{Key: "read_models", Value: readmodel.ReadModelsVersion},
			}}}))
	}
	c := db.st.Collection(readmodel.CollAccounts)
	if err := bulkWrite(ctx, c, models); err != nil {
		return fmt.Errorf("set read models of %d accounts: %w", len(views), err)
	}
	// Every other account this writer owns has no usage in the days kept
	// and no payments. Another partition's accounts are left unmarked: its
	// own writer builds them (marked now, the dashboard would read them as
	// built and empty until it does). (Updated by _id in small commands:
	// see maxUpdatesPerCommand.)
	cur, err := c.Find(ctx, bson.D{{Key: "read_models", Value: bson.D{{Key: "$ne", Value: readmodel.ReadModelsVersion}}}},
		options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return fmt.Errorf("find accounts without read models: %w", err)
	}
	var rest []struct {
		ID string `bson:"_id"`
	}
	if err := cur.All(ctx, &rest); err != nil {
		return fmt.Errorf("find accounts without read models: %w", err)
	}
	models = models[:0]
	for _, a := range rest {
		if !owns(a.ID) {
			continue
		}
		models = append(models, mongo.NewUpdateOneModel().SetFilter(bson.D{{Key: "_id", Value: a.ID}}).
			SetUpdate(bson.D{{Key: "$set", Value: bson.D{{Key: "read_models", Value: readmodel.ReadModelsVersion}}}}))
	}
	if err := bulkWrite(ctx, c, models); err != nil {
		return fmt.Errorf("mark %d accounts' read models: %w", len(models), err)
	}
	return nil
}
