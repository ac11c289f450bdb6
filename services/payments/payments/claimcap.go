package payments

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/onekey-oss/onekey/api/cryptopay"
	"github.com/onekey-oss/onekey/api/events"
)

func (s *Service) maxPending() int { return s.cfg.MaxPendingClaims }

// tooManyPending reports whether making claim id pending would give the
// account more pending claims than it may have. Claiming again a claim
// that is already pending or confirmed is never refused (it adds nothing).
//
// The cap bounds chainwatcher's work, it guards no money: it is a count
// before the insert, so concurrent claims of one account can pass it
// together and exceed it by their number.
func (s *Service) tooManyPending(ctx context.Context, account, id string) (bool, error) {
	n, err := s.st.Collection(cryptopay.CollClaims).CountDocuments(ctx, bson.D{
		{Key: "account_id", Value: account}, {Key: "status", Value: events.ClaimPending},
		{Key: "_id", Value: bson.D{{Key: "$ne", Value: id}}},
	})
	if err != nil {
		return false, fmt.Errorf("count pending claims: %w", err)
	}
	if n < int64(s.maxPending()) {
		return false, nil
	}
	var c cryptopay.Claim
	err = s.st.Collection(cryptopay.CollClaims).FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&c)
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		return true, nil
	case err != nil:
		return false, fmt.Errorf("read claim: %w", err)
	}
	return c.Status == events.ClaimRejected, nil
}
