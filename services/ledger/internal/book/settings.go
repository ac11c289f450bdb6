package book

import (
	"fmt"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/money"
)

// KindSettings is account.settings: it changes no money, only what the
// ledger does for the account (the low-balance threshold). Its journal
// entry has zero deltas and records the new threshold, so a replay after a
// crash sets it again.
const KindSettings = "settings"

func decodeSettings(subjectAccount string, data []byte) (Event, error) {
	var e events.AccountSettingsV1
	if err := decode(data, &e); err != nil {
		return Event{}, err
	}
	if err := common(e.ID, e.AccountID, subjectAccount, e.V); err != nil {
		return Event{}, err
	}
	if e.LowBalanceMicros < 0 {
		return Event{}, fmt.Errorf("%w: settings %s: negative low-balance threshold", ErrInvalid, e.ID)
	}
	return Event{ID: e.ID, Account: e.AccountID, Kind: KindSettings, Time: e.Time, Threshold: e.LowBalanceMicros,
		Fingerprint: fingerprint(events.FamilyAccountSettings, e.AccountID, e.LowBalanceMicros)}, nil
}

// applySettings is the effect of a settings entry on the account.
func (a *Account) applySettings(e Entry) {
	if e.Kind == KindSettings {
		a.LowThreshold = money.Micros(e.Threshold)
	}
}
