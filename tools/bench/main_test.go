package main

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary serve as the bench's child processes, which
// it starts with os.Executable and "-role ...".
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "-role" {
		if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
			os.Stderr.WriteString("bench child: " + err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// A short run goes through every phase and prints every figure, and each
// gateway request's usage event reaches JetStream.
func TestBench_ShortRunPrintsEveryFigure(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, []string{"-duration", "300ms", "-single", "20", "-concurrency", "4"}, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	text := out.String()
	for _, mode := range []string{"plain", "stream", "responses", "resp-stream"} {
		for _, proxy := range []string{"bare", "gateway"} {
			re := regexp.MustCompile(`(?m)^` + mode + `\s+` + proxy + `\s+(\d+)\s`)
			m := re.FindStringSubmatch(text)
			if m == nil {
				t.Fatalf("no %s %s row in:\n%s", mode, proxy, text)
			}
			if n, _ := strconv.Atoi(m[1]); n <= 0 {
				t.Errorf("%s %s: %s req/s", mode, proxy, m[1])
			}
		}
		if !regexp.MustCompile(`(?m)^` + mode + `\s+upstream directly at 1 client: p50 \d`).MatchString(text) {
			t.Errorf("no direct latency line for %s in:\n%s", mode, text)
		}
		if !regexp.MustCompile(`(?m)^` + mode + `\s+gateway/bare: throughput [\d.]+x .* added p50 at 1 client -?[\d.]+ ms`).MatchString(text) {
			t.Errorf("no goal line for %s in:\n%s", mode, text)
		}
	}
	m := regexp.MustCompile(`usage events stored in JetStream: (\d+)`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no usage event count in:\n%s", text)
	}
	if n, _ := strconv.Atoi(m[1]); n == 0 {
		t.Errorf("no usage event stored:\n%s", text)
	}
	if strings.Contains(text, "NaN") {
		t.Errorf("a figure is NaN:\n%s", text)
	}
}

func TestBench_ModesSelectsInTheBenchsOrderAndRefusesUnknownNames(t *testing.T) {
	got, err := selectModes("resp-stream, plain")
	if err != nil || len(got) != 2 || got[0].name != "plain" || got[1].name != "resp-stream" {
		t.Fatalf("selectModes = %v, %v", got, err)
	}
	if all, err := selectModes(""); err != nil || len(all) != 4 {
		t.Fatalf("every mode: %v, %v", all, err)
	}
	if _, err := selectModes("plain,chat"); err == nil || !strings.Contains(err.Error(), `"chat"`) {
		t.Fatalf("unknown mode: %v", err)
	}
	if err := run(context.Background(), []string{"-modes", "nope"}, &bytes.Buffer{}); err == nil {
		t.Fatal("run accepted an unknown mode")
	}
}
