package main

import (
	"os"
	"strings"
	"testing"
)

// TestK8s_LedgerStatefulSetWritesThePodsPartitionAndIsReadyOnlyAsItsWriter
// reads the kustomize base: the ledger is a StatefulSet (one pod per
// ordinal, so one per partition), each pod's partition is its ordinal, and
// readiness is /readyz, which holds only while the process has its
// partition's writer lease. (The deployments test checks the rendered
// overlays: replicas = LEDGER_PARTITIONS.)
func TestK8s_LedgerStatefulSetWritesThePodsPartitionAndIsReadyOnlyAsItsWriter(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../../k8s/base/ledger.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var set string
	for _, doc := range strings.Split(string(raw), "\n---") {
		if strings.Contains(doc, "kind: StatefulSet") && strings.Contains(doc, "name: ledger") {
			set = doc
		}
	}
	if set == "" {
		t.Fatal("no ledger StatefulSet in k8s/base/ledger.yaml")
	}
	if !strings.Contains(set, "name: LEDGER_PARTITION\n") || !strings.Contains(set, "apps.kubernetes.io/pod-index") {
		t.Error("LEDGER_PARTITION is not the pod's ordinal (label apps.kubernetes.io/pod-index)")
	}
	if !strings.Contains(set, "readinessProbe: { httpGet: { path: /readyz") {
		t.Error("ledger readiness probe is not /readyz")
	}
}
