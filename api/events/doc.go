// Package events is the contract of the onekey bus: every subject, stream,
// durable consumer and KV bucket name, and every event payload, defined once
// and used by both the publishing and the consuming side.
//
// Rules (STYLE.md §7):
//   - Payloads are JSON with a "v" field. A type is additive-only: fields may
//     be added, never renamed, retyped or given a new meaning. A breaking
//     change is a new type (FooV2) published beside the old one.
//   - Every event has a stable ID. Publishers send it as the Nats-Msg-Id
//     header, so JetStream drops a repeat inside its duplicate window, and
//     consumers apply an ID at most once however often it arrives.
//   - Subjects end with the account id (usage.recorded.<account>), so one
//     stream per family captures "family.>" and a consumer can later be
//     partitioned by account with subject mapping, one writer per account.
//   - No event ever carries request or response content.
//
// Durable consumer names are part of this API: renaming one would make the
// server deliver a stream again from the start.
package events
