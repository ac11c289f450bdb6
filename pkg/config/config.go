// Package config reads a service's environment into a typed struct once, in
// run, and reports every problem together rather than the first one.
//
//	r := config.NewReader(getenv)
//	cfg.Addr = r.String("GATEWAY_ADDR", "127.0.0.1:8080")
//	cfg.Timeout = r.Duration("UPSTREAM_TIMEOUT", 30*time.Second)
//	cfg.NATSURL = r.Required("NATS_URL")
//	if err := r.Err(); err != nil { ... }
package config

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/onekey-oss/onekey/api/money"
)

// Getenv looks up one variable; os.Getenv in main, a map in tests.
type Getenv func(string) string

// MapEnv adapts a map to Getenv.
func MapEnv(m map[string]string) Getenv { return func(k string) string { return m[k] } }

// Reader reads variables and collects problems.
type Reader struct {
	get  Getenv
	errs []error
}

// NewReader wraps getenv.
func NewReader(getenv Getenv) *Reader { return &Reader{get: getenv} }

// Err is every problem found so far, joined, or nil.
func (r *Reader) Err() error {
	if len(r.errs) == 0 {
		return nil
	}
	return fmt.Errorf("config: %w", errors.Join(r.errs...))
}

// Fail records a problem found by the caller's own validation.
func (r *Reader) Fail(format string, args ...any) {
	r.errs = append(r.errs, fmt.Errorf(format, args...))
}

// String returns the variable or def when unset.
func (r *Reader) String(name, def string) string {
	if v := strings.TrimSpace(r.get(name)); v != "" {
		return v
	}
	return def
}

// Required returns the variable and records a problem when it is unset.
func (r *Reader) Required(name string) string {
	v := strings.TrimSpace(r.get(name))
	if v == "" {
		r.errs = append(r.errs, fmt.Errorf("%s is required", name))
	}
	return v
}

// Int returns the variable as an int.
func (r *Reader) Int(name string, def int) int {
	v := strings.TrimSpace(r.get(name))
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		r.errs = append(r.errs, fmt.Errorf("%s=%q is not a whole number", name, v))
		return def
	}
	return n
}

// Int64 returns the variable as an int64.
func (r *Reader) Int64(name string, def int64) int64 {
	v := strings.TrimSpace(r.get(name))
	if v == "" {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		r.errs = append(r.errs, fmt.Errorf("%s=%q is not a whole number", name, v))
		return def
	}
	return n
}

// Bool returns the variable as a bool (1/true/yes, 0/false/no).
func (r *Reader) Bool(name string, def bool) bool {
	v := strings.ToLower(strings.TrimSpace(r.get(name)))
	switch v {
	case "":
		return def
	case "1", "true", "yes", "on":
		return true
	case "0", "false", "no", "off":
		return false
	}
	r.errs = append(r.errs, fmt.Errorf("%s=%q is not a boolean", name, v))
	return def
}

// Duration returns the variable as a time.Duration ("30s", "5m").
func (r *Reader) Duration(name string, def time.Duration) time.Duration {
	v := strings.TrimSpace(r.get(name))
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		r.errs = append(r.errs, fmt.Errorf("%s=%q is not a duration such as 30s", name, v))
		return def
	}
	return d
}

// Money returns the variable as a dollar amount ("5.00").
func (r *Reader) Money(name string, def money.Micros) money.Micros {
	v := strings.TrimSpace(r.get(name))
	if v == "" {
		return def
	}
	m, err := money.Parse(v)
	if err != nil {
		r.errs = append(r.errs, fmt.Errorf("%s=%q is not a dollar amount such as 5.00", name, v))
		return def
	}
	return m
}

// List returns a comma-separated variable as trimmed, non-empty items.
func (r *Reader) List(name string, def []string) []string {
	v := strings.TrimSpace(r.get(name))
	if v == "" {
		return def
	}
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// WithDefaults returns c with every numeric field (counts, sizes,
// durations, money) left at zero taken from defaults (a service's
// DefaultConfig()), so that a caller who fills in only some fields (a test,
// devstack) gets the same limits as ConfigFromEnv, written once. Strings,
// booleans and other kinds are left as they are: their zero value is a
// choice ("" for an address means no listener, false means off). A C that
// is not a struct is returned as it is.
func WithDefaults[C any](c, defaults C) C {
	v, d := reflect.ValueOf(&c).Elem(), reflect.ValueOf(defaults)
	if v.Kind() != reflect.Struct {
		return c
	}
	for i := range v.NumField() {
		f := v.Field(i)
		if !f.CanSet() || !f.IsZero() || !numeric(f.Kind()) {
			continue
		}
		f.Set(d.Field(i))
	}
	return c
}

func numeric(k reflect.Kind) bool {
	switch k {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return true
	}
	return false
}
