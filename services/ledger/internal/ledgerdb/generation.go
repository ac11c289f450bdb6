package ledgerdb

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/onekey-oss/onekey/api/readmodel"
)

// Usage returns the usage row of request id if it belongs to account: a
// row of another account is reported as not found.
func (db *DB) Usage(ctx context.Context, account, id string) (UsageDoc, bool, error) {
	var d UsageDoc
	err := db.st.Collection(readmodel.CollUsage).FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return UsageDoc{}, false, nil
	}
	if err != nil {
		return UsageDoc{}, false, fmt.Errorf("load usage %s: %w", id, err)
	}
	if d.AccountID != account {
		return UsageDoc{}, false, nil
	}
	return d, true, nil
}
