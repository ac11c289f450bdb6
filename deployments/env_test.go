package deployments

import (
	"fmt"
	"path"
	"sort"
	"strings"
	"testing"
)

// podIndexLabel is the label Kubernetes (1.28+) puts on a StatefulSet's pod
// with its ordinal; a fieldRef to it gives a pod its number.
const podIndexLabel = "apps.kubernetes.io/pod-index"

// setVar is one variable a manifest sets for a container.
type setVar struct {
	name  string
	value string // a literal, or a ConfigMap's value
	// secret: the value comes from a Secret the manifests do not hold;
	// optional: the Secret or its key may be missing.
	secret, optional bool
	from             string // where it is set, for messages
}

// env is what a container's environment holds, in order, and the problems
// of how it is written.
type env struct {
	vars     []setVar
	problems []string
}

func (e env) get(name string) (setVar, bool) {
	var v setVar
	found := false
	for _, s := range e.vars {
		if s.name == name {
			v, found = s, true // a later entry wins, as in Kubernetes
		}
	}
	return v, found
}

// getenv gives the environment the container starts with: every Secret
// holds its keys when withOptional, only the required ones otherwise.
func (e env) getenv(withOptional bool) func(string) string {
	m := map[string]string{}
	for _, v := range e.vars {
		switch {
		case !v.secret:
			m[v.name] = v.value
		case !v.optional || withOptional:
			m[v.name] = secretPlaceholder(v.name)
		default:
			delete(m, v.name)
		}
	}
	return func(k string) string { return m[k] }
}

// containerEnv resolves c's env and envFrom against the overlay's
// ConfigMaps. Variables from a whole Secret (envFrom) cannot be checked and
// are a problem: each is named with a secretKeyRef instead.
func containerEnv(c container, cms map[string]configMap) env {
	var e env
	for _, ef := range c.EnvFrom {
		switch {
		case ef.ConfigMapRef != nil:
			cm, ok := cms[ef.ConfigMapRef.Name]
			if !ok {
				if !ef.ConfigMapRef.Optional {
					e.problems = append(e.problems, fmt.Sprintf("envFrom ConfigMap %q is not in the overlay", ef.ConfigMapRef.Name))
				}
				continue
			}
			for _, k := range sortedKeys(cm.Data) {
				e.vars = append(e.vars, setVar{name: ef.Prefix + k, value: cm.Data[k], from: "ConfigMap " + cm.Metadata.Name})
			}
		case ef.SecretRef != nil:
			e.problems = append(e.problems, fmt.Sprintf("envFrom Secret %q sets variables nobody can check: name each with a secretKeyRef", ef.SecretRef.Name))
		}
	}
	for _, v := range c.Env {
		s := setVar{name: v.Name, value: v.Value, from: "env"}
		if vf := v.ValueFrom; vf != nil {
			switch {
			case vf.SecretKeyRef != nil:
				s.secret, s.optional = true, vf.SecretKeyRef.Optional
				s.from = "Secret " + vf.SecretKeyRef.Name + "/" + vf.SecretKeyRef.Key
			case vf.ConfigMapKeyRef != nil:
				ref := vf.ConfigMapKeyRef
				s.from = "ConfigMap " + ref.Name + "/" + ref.Key
				val, ok := cms[ref.Name].Data[ref.Key]
				if !ok && !ref.Optional {
					e.problems = append(e.problems, fmt.Sprintf("%s: %s is not in the overlay", v.Name, s.from))
				}
				s.value = val
			case vf.FieldRef != nil:
				s.value = "field"
				s.from = "fieldRef " + string(vf.FieldRef)
				if strings.Contains(string(vf.FieldRef), podIndexLabel) {
					s.value = "0" // a StatefulSet pod's ordinal: the first pod's
				}
			}
		}
		e.vars = append(e.vars, s)
	}
	return e
}

// checkEnv checks one program's environment as a manifest sets it: every
// variable set is one the program reads, every variable it requires is
// set (not from an optional Secret), and the program's own parsing accepts
// it, with and without the optional Secrets' keys.
func checkEnv(t *testing.T, where string, e env, reads envNames, sp spec) {
	t.Helper()
	for _, p := range e.problems {
		t.Errorf("%s: %s", where, p)
	}
	for _, v := range e.vars {
		if !reads.reads(v.name) {
			t.Errorf("%s: sets %s (%s), which its program does not read", where, v.name, v.from)
		}
	}
	for _, name := range keys(reads.required) {
		v, ok := e.get(name)
		switch {
		case !ok:
			t.Errorf("%s: %s is required and not set", where, name)
		case v.secret && v.optional:
			t.Errorf("%s: %s is required, but its Secret key is optional (%s)", where, name, v.from)
		case !v.secret && strings.TrimSpace(v.value) == "":
			t.Errorf("%s: %s is required and set empty (%s)", where, name, v.from)
		}
	}
	if sp.parse == nil {
		return
	}
	for _, withOptional := range []bool{false, true} {
		if err := sp.parse(e.getenv(withOptional)); err != nil {
			t.Errorf("%s: the program refuses this environment (optional Secret keys present: %v): %v", where, withOptional, err)
		}
	}
}

// secretFiles are the variables naming a file that holds a secret (a NATS
// user's credentials): a program that reads one must get it set, to a file
// of a Secret mounted into its container.
func secretFiles() []string { return []string{"NATS_CREDS_FILE"} }

func checkSecretFiles(t *testing.T, where string, e env, reads envNames, mounted func(path string) (string, bool)) {
	t.Helper()
	for _, name := range secretFiles() {
		if !reads.reads(name) {
			continue
		}
		v, ok := e.get(name)
		if !ok || v.value == "" {
			t.Errorf("%s: %s is not set: the program would reach the bus with no user of its own", where, name)
			continue
		}
		if _, ok := mounted(v.value); !ok {
			t.Errorf("%s: %s=%s is not a file of a mounted Secret", where, name, v.value)
		}
	}
}

// mountedSecret finds the Secret volume that file p of container c is on.
func mountedSecret(w workload, c container, p string) (string, bool) {
	for _, m := range c.VolumeMounts {
		if !strings.HasPrefix(p, strings.TrimSuffix(m.MountPath, "/")+"/") {
			continue
		}
		for _, v := range w.Spec.Template.Spec.Volumes {
			if v.Name == m.Name && v.Secret != nil {
				return v.Secret.SecretName, true
			}
		}
	}
	return "", false
}

// sourceScans scans each program once per test binary.
type sourceScans struct {
	t    *testing.T
	root string
}

func newScans(t *testing.T) *sourceScans {
	return &sourceScans{t: t, root: repoRoot(t)}
}

func (s *sourceScans) of(dir string) envNames {
	scanMu.Lock()
	defer scanMu.Unlock()
	if e, ok := scanned[dir]; ok {
		return e
	}
	e := scanEnv(s.t, s.root, dir)
	scanned[dir] = e
	return e
}

// TestManifests_EveryVariableSetIsReadAndEveryRequiredOneIsSet builds every
// overlay and checks each container of each workload against the source of
// the program its image runs.
func TestManifests_EveryVariableSetIsReadAndEveryRequiredOneIsSet(t *testing.T) {
	scans := newScans(t)
	specs := services()
	for _, r := range overlays(t) {
		t.Run(r.name, func(t *testing.T) {
			cms := r.configMaps(t)
			deployed := map[string]bool{}
			for _, w := range r.workloads(t) {
				for _, c := range append(w.Spec.Template.Spec.InitContainers, w.Spec.Template.Spec.Containers...) {
					where := fmt.Sprintf("%s/%s container %s", w.Kind, w.Metadata.Name, c.Name)
					prog, ok := imageProgram(c.Image)
					if !ok {
						t.Errorf("%s: image %s is not one of onekey's programs: nothing to check its environment against", where, c.Image)
						continue
					}
					deployed[path.Base(prog)] = true
					e := containerEnv(c, cms)
					checkEnv(t, where, e, scans.of(prog), specs[path.Base(prog)])
					checkSecretFiles(t, where, e, scans.of(prog), func(p string) (string, bool) { return mountedSecret(w, c, p) })
				}
			}
			var missing []string
			for name := range specs {
				if !deployed[name] {
					missing = append(missing, name)
				}
			}
			sort.Strings(missing)
			if len(missing) > 0 {
				t.Errorf("not deployed: %v", missing)
			}
		})
	}
}
