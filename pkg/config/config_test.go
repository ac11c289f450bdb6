package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/pkg/config"
)

func TestConfig_ReportsEveryProblemTogether(t *testing.T) {
	t.Parallel()
	r := config.NewReader(config.MapEnv(map[string]string{
		"A": "x", "T": "soon", "M": "1.0000001", "B": "maybe", "OK": " 7 ", "D": "250ms", "L": "a, b,,c", "C": "5.50",
	}))
	_ = r.Int("A", 0)
	_ = r.Duration("T", 0)
	_ = r.Money("M", 0)
	_ = r.Bool("B", false)
	_ = r.Required("MISSING")
	if got := r.Int("OK", 0); got != 7 {
		t.Errorf("Int = %d", got)
	}
	if got := r.Duration("D", 0); got != 250*time.Millisecond {
		t.Errorf("Duration = %v", got)
	}
	if got := r.List("L", nil); strings.Join(got, "|") != "a|b|c" {
		t.Errorf("List = %v", got)
	}
	if got := r.Money("C", 0); got != 5*money.Dollar+500_000 {
		t.Errorf("Money = %d", got)
	}
	if got := r.String("UNSET", "def"); got != "def" {
		t.Errorf("String default = %q", got)
	}
	err := r.Err()
	if err == nil {
		t.Fatal("no error")
	}
	for _, name := range []string{"A=", "T=", "M=", "B=", "MISSING"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
}

func TestWithDefaults_FillsOnlyWhatTheCallerLeftZero(t *testing.T) {
	t.Parallel()
	type cfg struct {
		Addr    string
		Timeout time.Duration
		Retries int
		Items   []string
		On      bool
		Nested  struct{ N int }
	}
	def := cfg{Addr: "127.0.0.1:1", Timeout: time.Second, Retries: 2, Items: []string{"a"}, On: true}
	def.Nested.N = 3
	got := config.WithDefaults(cfg{Retries: -1}, def)
	if got.Retries != -1 {
		t.Errorf("set fields changed: %+v", got)
	}
	if got.Timeout != time.Second {
		t.Errorf("zero numbers not filled: %+v", got)
	}
	// "" (no listener), false (off), nil and nested structs are choices.
	if got.Addr != "" || got.On || got.Items != nil || got.Nested.N != 0 {
		t.Errorf("a zero string, bool, slice or struct was taken as unset: %+v", got)
	}
}
