package main

import (
	"os"
	"strings"
	"testing"
)

// TestK8s_LedgerDeploymentRecreatesAndIsReadyOnlyAsTheWriter reads the
// kustomize base: a rollout must stop the old ledger before starting the
// new one (the default RollingUpdate runs both at once), and readiness is
// /readyz, which holds only while the process has the writer lease.
func TestK8s_LedgerDeploymentRecreatesAndIsReadyOnlyAsTheWriter(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../../k8s/base/ledger.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var deploy string
	for _, doc := range strings.Split(string(raw), "\n---") {
		if strings.Contains(doc, "kind: Deployment") && strings.Contains(doc, "name: ledger") {
			deploy = doc
		}
	}
	if deploy == "" {
		t.Fatal("no ledger Deployment in k8s/base/ledger.yaml")
	}
	lines := strings.Split(deploy, "\n")
	strategy := ""
	for i, l := range lines {
		if strings.TrimSpace(l) == "strategy:" && i+1 < len(lines) {
			strategy = strings.TrimSpace(lines[i+1])
		}
		if strings.HasPrefix(strings.TrimSpace(l), "strategy: {") {
			strategy = strings.Trim(strings.TrimPrefix(strings.TrimSpace(l), "strategy:"), " {}")
		}
	}
	if strategy != "type: Recreate" {
		t.Errorf("ledger Deployment strategy %q, want type: Recreate", strategy)
	}
	if !strings.Contains(deploy, "readinessProbe: { httpGet: { path: /readyz") {
		t.Error("ledger readiness probe is not /readyz")
	}
}
