// Package bootstore opens a service's runtime (pkg/boot) with its database:
// the part of boot that links the MongoDB driver, kept apart so that the
// gateway, which has no database (DESIGN §1), links none.
package bootstore

import (
	"context"
	"errors"

	"github.com/onekey-oss/onekey/pkg/boot"
	"github.com/onekey-oss/onekey/pkg/config"
	"github.com/onekey-oss/onekey/pkg/store"
)

// Runtime is boot's runtime with the database.
type Runtime struct {
	*boot.Runtime
	Store *store.Store
}

// Open reads MONGODB_URI (required) and MONGODB_DB (default "onekey") with
// everything boot.Open reads, reporting every problem at once; opens the
// runtime, then the database. Close closes the database first. On error
// nothing is left open.
func Open(ctx context.Context, getenv config.Getenv, o boot.Options, configErr error) (*Runtime, error) {
	r := config.NewReader(getenv)
	uri := r.Required("MONGODB_URI")
	db := r.String("MONGODB_DB", "onekey")
	rt, err := boot.Open(ctx, getenv, o, errors.Join(configErr, r.Err()))
	if err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, uri, db, rt.Logger)
	if err != nil {
		return nil, errors.Join(err, rt.Close(ctx))
	}
	rt.OnClose(st.Close)
	return &Runtime{Runtime: rt, Store: st}, nil
}
