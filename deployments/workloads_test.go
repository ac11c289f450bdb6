package deployments

import (
	"fmt"
	"net"
	"path"
	"strconv"
	"strings"
	"testing"
)

// deployedService is one service's workload and main container in an
// overlay.
type deployedService struct {
	name string
	w    workload
	c    container
	env  env
}

// deployedServices finds each service's workload by the image its
// containers run.
func deployedServices(t *testing.T, r rendered) map[string]deployedService {
	t.Helper()
	cms := r.configMaps(t)
	out := map[string]deployedService{}
	for _, w := range r.workloads(t) {
		for _, c := range w.Spec.Template.Spec.Containers {
			prog, ok := imageProgram(c.Image)
			if !ok || !strings.HasPrefix(prog, "services/") {
				continue
			}
			name := path.Base(prog)
			if _, dup := out[name]; dup {
				t.Errorf("%s: %s runs in two workloads", r.name, name)
			}
			out[name] = deployedService{name: name, w: w, c: c, env: containerEnv(c, cms)}
		}
	}
	return out
}

// listenPort is the port of the listen address variable name as the
// container sets it; the listener must be reachable from outside the pod.
func (d deployedService) listenPort(name string) (int, error) {
	v, ok := d.env.get(name)
	if !ok {
		return 0, fmt.Errorf("%s is not set (its default listens on the pod's loopback only)", name)
	}
	host, p, err := net.SplitHostPort(v.value)
	if err != nil {
		return 0, fmt.Errorf("%s=%q: %v", name, v.value, err)
	}
	if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
		return 0, fmt.Errorf("%s=%q listens on the pod's loopback: nothing outside the pod reaches it", name, v.value)
	}
	return strconv.Atoi(p)
}

// TestManifests_ProbesUseTheDocumentedPathsAndPorts: liveness asks
// /healthz (never /readyz: a ledger waiting for the writer lease is alive),
// readiness asks /readyz where the service answers it, each on a port where
// the service's health listener is, and Prometheus scrapes the port of its
// /metrics. The routes are checked against the services' source.
func TestManifests_ProbesUseTheDocumentedPathsAndPorts(t *testing.T) {
	scans := newScans(t)
	specs := services()
	for name, sp := range specs {
		src := scans.of("services/" + name)
		if !src.literals["GET /healthz"] && !src.literals["/healthz"] {
			t.Errorf("%s: no /healthz route in its source", name)
		}
		if sp.ready && !src.literals["GET /readyz"] {
			t.Errorf("%s: no GET /readyz route in its source", name)
		}
		for _, v := range append(sp.health, sp.metrics) {
			if !src.exact[v] {
				t.Errorf("%s: does not read %s", name, v)
			}
		}
	}
	for _, r := range overlays(t) {
		t.Run(r.name, func(t *testing.T) {
			for name, d := range deployedServices(t, r) {
				sp := specs[name]
				healthPorts := map[int]bool{}
				for _, v := range sp.health {
					if p, err := d.listenPort(v); err == nil {
						healthPorts[p] = true
					}
				}
				if len(healthPorts) == 0 {
					t.Errorf("%s: none of %v is set to a reachable listen address", name, sp.health)
				}
				wantReady := "/healthz"
				if sp.ready {
					wantReady = "/readyz"
				}
				for _, pr := range []struct {
					kind     string
					p        *probe
					path     string
					optional bool
				}{
					{"liveness", d.c.LivenessProbe, "/healthz", false},
					{"readiness", d.c.ReadinessProbe, wantReady, false},
					{"startup", d.c.StartupProbe, "/healthz", true},
				} {
					if pr.p == nil {
						if !pr.optional {
							t.Errorf("%s: no %s probe", name, pr.kind)
						}
						continue
					}
					if pr.p.HTTPGet == nil {
						t.Errorf("%s: the %s probe is not an HTTP GET", name, pr.kind)
						continue
					}
					if pr.p.HTTPGet.Path != pr.path {
						t.Errorf("%s: %s probe asks %s, want %s", name, pr.kind, pr.p.HTTPGet.Path, pr.path)
					}
					if p, ok := containerPort(d.c, pr.p.HTTPGet.Port); !ok || !healthPorts[p] {
						t.Errorf("%s: %s probe on port %s (%d), where no health listener (%v) is", name, pr.kind, pr.p.HTTPGet.Port, p, sp.health)
					}
				}
				ann := d.w.Spec.Template.Metadata.Annotations
				if ann["prometheus.io/scrape"] != "true" {
					t.Errorf("%s: not scraped (prometheus.io/scrape)", name)
					continue
				}
				mp, err := d.listenPort(sp.metrics)
				if err != nil {
					t.Errorf("%s: metrics: %v", name, err)
				} else if ann["prometheus.io/port"] != strconv.Itoa(mp) {
					t.Errorf("%s: scraped on port %q, /metrics is on %s (%d)", name, ann["prometheus.io/port"], sp.metrics, mp)
				}
				if p, ok := ann["prometheus.io/path"]; ok && p != "/metrics" {
					t.Errorf("%s: scraped at %s, want /metrics", name, p)
				}
			}
		})
	}
}

// TestManifests_GatewayOutboxSurvivesRescheduling: the gateway's outbox
// (usage events not yet on the bus) is on a volume claimed per pod, so a
// pod rescheduled to another node gets its outbox back and publishes it;
// an emptyDir would be deleted with the pod, and the usage in it unbilled.
func TestManifests_GatewayOutboxSurvivesRescheduling(t *testing.T) {
	for _, r := range overlays(t) {
		t.Run(r.name, func(t *testing.T) {
			d, ok := deployedServices(t, r)["gateway"]
			if !ok {
				t.Fatal("no gateway")
			}
			dir, ok := d.env.get("GATEWAY_OUTBOX_DIR")
			if !ok || !strings.HasPrefix(dir.value, "/") {
				t.Fatalf("GATEWAY_OUTBOX_DIR is not set to an absolute path (%q): the default is relative to a read-only root", dir.value)
			}
			vol := ""
			for _, m := range d.c.VolumeMounts {
				if dir.value == m.MountPath || strings.HasPrefix(dir.value, strings.TrimSuffix(m.MountPath, "/")+"/") {
					vol = m.Name
				}
			}
			if vol == "" {
				t.Fatalf("GATEWAY_OUTBOX_DIR=%s is on no volume", dir.value)
			}
			claimed := false
			for _, vct := range d.w.Spec.VolumeClaimTemplates {
				if vct.Metadata.Name == vol {
					claimed = d.w.Kind == "StatefulSet"
				}
			}
			for _, v := range d.w.Spec.Template.Spec.Volumes {
				if v.Name != vol {
					continue
				}
				switch {
				case v.PersistentVolumeClaim != nil:
					// One claim shared by every replica would be one outbox
					// written by several processes.
					one := d.w.Spec.Replicas != nil && *d.w.Spec.Replicas == 1 && d.w.Spec.Strategy.Type == "Recreate"
					if !one {
						t.Errorf("the outbox is on one claim (%s) shared by every replica: use a StatefulSet's volumeClaimTemplates", v.PersistentVolumeClaim.ClaimName)
					}
					claimed = one
				case v.EmptyDir != nil:
					t.Errorf("the outbox volume %q is an emptyDir: it is deleted with the pod, and the usage in it is never billed", vol)
				}
			}
			if !claimed {
				t.Errorf("the outbox volume %q is not a volume claim of the %s", vol, d.w.Kind)
			}
			if d.w.Spec.Template.Spec.SecurityContext.FSGroup == nil {
				t.Errorf("no fsGroup: the non-root gateway cannot write to a fresh volume")
			}
		})
	}
}

// TestManifests_LedgerCannotRunTwice: "twice" means two writers of one
// partition. The ledger is a StatefulSet with one pod per partition
// (replicas = LEDGER_PARTITIONS, as the bus admin declares it), each pod
// writing the partition of its ordinal: a StatefulSet runs one pod per
// ordinal and deletes the old before it starts its successor. And the
// ledger itself takes its partition's writer lease on the bus before it
// applies anything, so that two never write one partition at once even
// when Kubernetes runs two (a node that lost contact still running the
// old pod).
func TestManifests_LedgerCannotRunTwice(t *testing.T) {
	src := newScans(t).of("services/ledger")
	if !src.calls["AcquireLease"] || !src.calls["LedgerLease"] {
		t.Error("the ledger's source takes no partition lease (bus.AcquireLease of events.LedgerLease): nothing stops a second writer")
	}
	for _, r := range overlays(t) {
		t.Run(r.name, func(t *testing.T) {
			d, ok := deployedServices(t, r)["ledger"]
			if !ok {
				t.Fatal("no ledger")
			}
			if d.w.Kind != "StatefulSet" {
				t.Fatalf("the ledger runs as a %s, want a StatefulSet (one pod per partition)", d.w.Kind)
			}
			n, ok := d.env.get("LEDGER_PARTITIONS")
			if !ok {
				n.value = "1"
			}
			if d.w.Spec.Replicas == nil || fmt.Sprint(*d.w.Spec.Replicas) != n.value {
				t.Errorf("the ledger's StatefulSet has replicas %v, want LEDGER_PARTITIONS (%s): one pod per partition", d.w.Spec.Replicas, n.value)
			}
			p, ok := d.env.get("LEDGER_PARTITION")
			if !ok || !strings.Contains(p.from, podIndexLabel) {
				t.Errorf("LEDGER_PARTITION is %+v, want it from the pod's ordinal (label %s)", p, podIndexLabel)
			}
			declared := map[string]bool{}
			for _, w := range r.workloads(t) {
				for _, c := range w.Spec.Template.Spec.Containers {
					if len(c.Args) > 0 && c.Args[0] == "declare" {
						e := containerEnv(c, r.configMaps(t))
						v, ok := e.get("LEDGER_PARTITIONS")
						if !ok {
							v.value = "1"
						}
						declared[v.value] = true
					}
				}
			}
			if len(declared) != 1 || !declared[n.value] {
				t.Errorf("the bus admin declares LEDGER_PARTITIONS %v, the ledger runs %s", declared, n.value)
			}
		})
	}
}
