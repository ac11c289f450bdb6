package deployments

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// composeService is the part of a docker compose service the checks read.
type composeService struct {
	Image string `json:"image"`
	Build *struct {
		Args map[string]string `json:"args"`
	} `json:"build"`
	Environment json.RawMessage   `json:"environment"`
	EnvFile     json.RawMessage   `json:"env_file"`
	Volumes     []string          `json:"volumes"`
	Secrets     []json.RawMessage `json:"secrets"`
}

// secretPaths are where compose mounts the service's secret files: its
// secrets (a name, or {source, target}, at /run/secrets/<target> or the
// absolute target), and files of the host bound into it read-only
// ("./creds/gateway.nk:/run/secrets/nats.nk:ro").
func (s composeService) secretPaths() []string {
	var out []string
	for _, v := range s.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) == 3 && parts[2] == "ro" && (strings.HasPrefix(parts[0], "./") || strings.HasPrefix(parts[0], "/")) {
			out = append(out, parts[1])
		}
	}
	for _, raw := range s.Secrets {
		var name string
		var long struct{ Source, Target string }
		switch {
		case json.Unmarshal(raw, &name) == nil:
		case json.Unmarshal(raw, &long) == nil:
			name = long.Source
			if long.Target != "" {
				name = long.Target
			}
		}
		if !strings.HasPrefix(name, "/") {
			name = "/run/secrets/" + name
		}
		out = append(out, name)
	}
	return out
}

// interpolation is compose's ${NAME}, ${NAME:-default}, ${NAME-default},
// ${NAME:?message} and ${NAME?message}.
var interpolation = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}`)

// composeValue is the value a variable gets: a default when one is given;
// for a required one (?), a placeholder of what the operator must set; for
// a bare ${NAME}, nothing (it may be unset).
func composeValue(name, v string) string {
	return interpolation.ReplaceAllStringFunc(v, func(m string) string {
		g := interpolation.FindStringSubmatch(m)
		switch strings.TrimPrefix(g[2], ":") {
		case "-":
			return g[3]
		case "?":
			return secretPlaceholder(name)
		}
		return ""
	})
}

// composeEnv reads a service's environment, a map or a list of NAME=VALUE.
func composeEnv(t *testing.T, raw json.RawMessage) env {
	t.Helper()
	var e env
	if len(raw) == 0 || string(raw) == "null" {
		return e
	}
	add := func(name, v string) {
		e.vars = append(e.vars, setVar{name: name, value: composeValue(name, v), from: "environment"})
	}
	var m map[string]any
	if json.Unmarshal(raw, &m) == nil {
		for _, k := range sortedKeys(m) {
			add(k, fmt.Sprint(m[k]))
		}
		return e
	}
	var l []string
	if err := json.Unmarshal(raw, &l); err != nil {
		t.Fatalf("environment: %v", err)
	}
	for _, s := range l {
		k, v, _ := strings.Cut(s, "=")
		add(k, v)
	}
	return e
}

// TestCompose_EveryVariableSetIsReadAndEveryRequiredOneIsSet parses
// deployments/docker-compose.yml (anchors and merge keys resolved) and
// checks each onekey service's environment as the manifests' are checked.
// deployments/.env (not committed) can add variables; what the file itself
// sets is checked.
func TestCompose_EveryVariableSetIsReadAndEveryRequiredOneIsSet(t *testing.T) {
	root := repoRoot(t)
	b, err := os.ReadFile(filepath.Join(root, "deployments", "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Services map[string]composeService `json:"services"`
		Volumes  map[string]any            `json:"volumes"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	scans := newScans(t)
	specs := services()
	deployed := map[string]bool{}
	for _, name := range sortedKeys(f.Services) {
		s := f.Services[name]
		prog, ok := imageProgram(s.Image)
		if s.Build != nil && s.Build.Args["SERVICE"] != "" {
			prog, ok = programDir(s.Build.Args["SERVICE"])
			if !ok {
				t.Errorf("compose service %s: builds %s, which is no program of services/ or tools/", name, s.Build.Args["SERVICE"])
				continue
			}
		}
		if !ok {
			continue // NATS, MongoDB
		}
		svc := filepath.Base(prog)
		deployed[svc] = true
		e := composeEnv(t, s.Environment)
		if len(s.EnvFile) > 0 && string(s.EnvFile) != "null" {
			e.problems = append(e.problems, "env_file sets variables nobody can check (and gives every service every secret): name each in environment")
		}
		checkEnv(t, "compose service "+name, e, scans.of(prog), specs[svc])
		checkSecretFiles(t, "compose service "+name, e, scans.of(prog), func(p string) (string, bool) {
			return p, contains(s.secretPaths(), p)
		})
		if svc == "gateway" {
			dir, _ := e.get("GATEWAY_OUTBOX_DIR")
			onVolume := false
			for _, v := range s.Volumes {
				src, dst, _ := strings.Cut(v, ":")
				dst, _, _ = strings.Cut(dst, ":")
				if _, named := f.Volumes[src]; named && dir.value != "" && strings.HasPrefix(dir.value+"/", strings.TrimSuffix(dst, "/")+"/") {
					onVolume = true
				}
			}
			if !onVolume {
				t.Errorf("compose service %s: GATEWAY_OUTBOX_DIR=%q is not on a named volume: the outbox would go with the container", name, dir.value)
			}
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
		t.Errorf("not in the compose file: %v", missing)
	}
}
