package deployments

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// The parts of Kubernetes objects the checks read (decoded from the
// rendered JSON; everything else is ignored).
type (
	object struct {
		APIVersion string   `json:"apiVersion"`
		Kind       string   `json:"kind"`
		Metadata   metadata `json:"metadata"`
		raw        json.RawMessage
	}
	metadata struct {
		Name        string            `json:"name"`
		Namespace   string            `json:"namespace"`
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
	}
	workload struct {
		Kind     string
		Metadata metadata `json:"metadata"`
		Spec     struct {
			Replicas             *int                  `json:"replicas"`
			Strategy             struct{ Type string } `json:"strategy"`
			ServiceName          string                `json:"serviceName"`
			VolumeClaimTemplates []object              `json:"volumeClaimTemplates"`
			Template             podTemplate           `json:"template"`
			Selector             *labelSelector        `json:"selector"`
		} `json:"spec"`
	}
	podTemplate struct {
		Metadata metadata `json:"metadata"`
		Spec     podSpec  `json:"spec"`
	}
	podSpec struct {
		SecurityContext struct {
			FSGroup *int64 `json:"fsGroup"`
		} `json:"securityContext"`
		Volumes        []volume    `json:"volumes"`
		Containers     []container `json:"containers"`
		InitContainers []container `json:"initContainers"`
	}
	volume struct {
		Name                  string          `json:"name"`
		EmptyDir              json.RawMessage `json:"emptyDir"`
		PersistentVolumeClaim *struct {
			ClaimName string `json:"claimName"`
		} `json:"persistentVolumeClaim"`
		Secret *struct {
			SecretName string `json:"secretName"`
		} `json:"secret"`
	}
	container struct {
		Name    string    `json:"name"`
		Image   string    `json:"image"`
		Command []string  `json:"command"`
		Args    []string  `json:"args"`
		Env     []envVar  `json:"env"`
		EnvFrom []envFrom `json:"envFrom"`
		Ports   []struct {
			Name          string `json:"name"`
			ContainerPort int    `json:"containerPort"`
		} `json:"ports"`
		VolumeMounts []struct {
			Name      string `json:"name"`
			MountPath string `json:"mountPath"`
		} `json:"volumeMounts"`
		ReadinessProbe *probe `json:"readinessProbe"`
		LivenessProbe  *probe `json:"livenessProbe"`
		StartupProbe   *probe `json:"startupProbe"`
	}
	envVar struct {
		Name      string `json:"name"`
		Value     string `json:"value"`
		ValueFrom *struct {
			SecretKeyRef    *keyRef         `json:"secretKeyRef"`
			ConfigMapKeyRef *keyRef         `json:"configMapKeyRef"`
			FieldRef        json.RawMessage `json:"fieldRef"`
		} `json:"valueFrom"`
	}
	keyRef struct {
		Name     string `json:"name"`
		Key      string `json:"key"`
		Optional bool   `json:"optional"`
	}
	envFrom struct {
		Prefix       string  `json:"prefix"`
		ConfigMapRef *keyRef `json:"configMapRef"`
		SecretRef    *keyRef `json:"secretRef"`
	}
	probe struct {
		HTTPGet *struct {
			Path string          `json:"path"`
			Port json.RawMessage `json:"port"`
		} `json:"httpGet"`
	}
	labelSelector struct {
		MatchLabels      map[string]string `json:"matchLabels"`
		MatchExpressions []json.RawMessage `json:"matchExpressions"`
	}
	cronJob struct {
		Spec struct {
			JobTemplate struct {
				Spec struct {
					Template podTemplate `json:"template"`
				} `json:"spec"`
			} `json:"jobTemplate"`
		} `json:"spec"`
	}
	configMap struct {
		Metadata metadata          `json:"metadata"`
		Data     map[string]string `json:"data"`
	}
	service struct {
		Metadata metadata `json:"metadata"`
		Spec     struct {
			Selector map[string]string `json:"selector"`
			Ports    []struct {
				Name       string          `json:"name"`
				Port       int             `json:"port"`
				TargetPort json.RawMessage `json:"targetPort"`
			} `json:"ports"`
		} `json:"spec"`
	}
)

// rendered is one overlay, built.
type rendered struct {
	name    string
	objects []object
}

// Rendering the overlays and scanning the services' source take most of
// this package's time (seconds under -race), and what they read does not
// change while the tests run: each is done once per test binary.
var (
	renderedOnce = sync.OnceValues(renderOverlays)
	scanMu       sync.Mutex
	scanned      = map[string]envNames{}
)

// repoRoot is the folder holding go.work.
func repoRoot(t *testing.T) string {
	t.Helper()
	d, err := findRoot()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func findRoot() (string, error) {
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.work")); err == nil {
			return d, nil
		}
		up := filepath.Dir(d)
		if up == d {
			return "", errors.New("go.work not found above the test's folder")
		}
		d = up
	}
}

// overlays gives k8s/base and every k8s/overlays/*, built with kustomize.
func overlays(t *testing.T) []rendered {
	t.Helper()
	out, err := renderedOnce()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func renderOverlays() ([]rendered, error) {
	root, err := findRoot()
	if err != nil {
		return nil, err
	}
	dirs := []string{filepath.Join(root, "k8s", "base")}
	more, err := filepath.Glob(filepath.Join(root, "k8s", "overlays", "*", "kustomization.yaml"))
	if err != nil {
		return nil, err
	}
	for _, m := range more {
		dirs = append(dirs, filepath.Dir(m))
	}
	if len(dirs) < 3 {
		return nil, fmt.Errorf("want the base and at least two overlays (dev, prod), found %v", dirs)
	}
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	var out []rendered
	for _, d := range dirs {
		rel, _ := filepath.Rel(filepath.Join(root, "k8s"), d)
		m, err := k.Run(filesys.MakeFsOnDisk(), d)
		if err != nil {
			return nil, fmt.Errorf("kustomize build k8s/%s: %w", rel, err)
		}
		r := rendered{name: rel}
		for _, res := range m.Resources() {
			b, err := res.MarshalJSON()
			if err != nil {
				return nil, fmt.Errorf("k8s/%s: %w", rel, err)
			}
			var o object
			if err := json.Unmarshal(b, &o); err != nil {
				return nil, fmt.Errorf("k8s/%s: %w", rel, err)
			}
			o.raw = b
			r.objects = append(r.objects, o)
		}
		out = append(out, r)
	}
	return out, nil
}

func (r rendered) all(t *testing.T, kind string, into func(json.RawMessage)) {
	t.Helper()
	for _, o := range r.objects {
		if o.Kind == kind {
			into(o.raw)
		}
	}
}

func decode[T any](t *testing.T, raw json.RawMessage) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return v
}

func (r rendered) workloads(t *testing.T) []workload {
	var out []workload
	for _, kind := range []string{"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"} {
		r.all(t, kind, func(raw json.RawMessage) {
			w := decode[workload](t, raw)
			if kind == "CronJob" {
				w.Spec.Template = decode[cronJob](t, raw).Spec.JobTemplate.Spec.Template
			}
			w.Kind = kind
			out = append(out, w)
		})
	}
	return out
}

func (r rendered) configMaps(t *testing.T) map[string]configMap {
	out := map[string]configMap{}
	r.all(t, "ConfigMap", func(raw json.RawMessage) {
		c := decode[configMap](t, raw)
		out[c.Metadata.Name] = c
	})
	return out
}

func (r rendered) services(t *testing.T) map[string]service {
	out := map[string]service{}
	r.all(t, "Service", func(raw json.RawMessage) {
		s := decode[service](t, raw)
		out[s.Metadata.Name] = s
	})
	return out
}

// imageProgram maps a container image to the program it runs, as a folder
// of the repository: ghcr.io/onekey-oss/onekey-<name> runs <name>.
func imageProgram(image string) (string, bool) {
	name := image[strings.LastIndex(image, "/")+1:]
	if i := strings.IndexAny(name, ":@"); i >= 0 {
		name = name[:i]
	}
	prog, ok := strings.CutPrefix(name, "onekey-")
	if !ok {
		return "", false
	}
	return programDir(prog)
}

// programDir is where the program name lives: services/<name>, or
// tools/<name> for a tool (a job's, such as the bus admin).
func programDir(name string) (string, bool) {
	root, err := findRoot()
	if err != nil || name == "" {
		return "", false
	}
	for _, dir := range []string{"services/" + name, "tools/" + name} {
		if _, err := os.Stat(filepath.Join(root, dir, "main.go")); err == nil {
			return dir, true
		}
	}
	return "", false
}

// containerPort resolves a probe's or Service's port (a number or the
// name of one of c's ports).
func containerPort(c container, raw json.RawMessage) (int, bool) {
	var n int
	if json.Unmarshal(raw, &n) == nil {
		return n, true
	}
	var name string
	if json.Unmarshal(raw, &name) == nil {
		if n, err := strconv.Atoi(name); err == nil {
			return n, true
		}
		for _, p := range c.Ports {
			if p.Name == name {
				return p.ContainerPort, true
			}
		}
	}
	return 0, false
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
