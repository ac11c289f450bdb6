package deployments

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
)

type (
	networkPolicy struct {
		Metadata metadata `json:"metadata"`
		Spec     struct {
			PodSelector labelSelector `json:"podSelector"`
			PolicyTypes []string      `json:"policyTypes"`
			Ingress     []npRule      `json:"ingress"`
			Egress      []npRule      `json:"egress"`
		} `json:"spec"`
	}
	npRule struct {
		From  []npPeer `json:"from"`
		To    []npPeer `json:"to"`
		Ports []struct {
			Protocol string          `json:"protocol"`
			Port     json.RawMessage `json:"port"`
			EndPort  *int            `json:"endPort"`
		} `json:"ports"`
	}
	npPeer struct {
		PodSelector       *labelSelector `json:"podSelector"`
		NamespaceSelector *labelSelector `json:"namespaceSelector"`
		IPBlock           *struct {
			CIDR   string   `json:"cidr"`
			Except []string `json:"except"`
		} `json:"ipBlock"`
	}
	ingress struct {
		Metadata metadata `json:"metadata"`
		Spec     struct {
			IngressClassName string          `json:"ingressClassName"`
			DefaultBackend   json.RawMessage `json:"defaultBackend"`
			TLS              []struct {
				Hosts      []string `json:"hosts"`
				SecretName string   `json:"secretName"`
			} `json:"tls"`
			Rules []struct {
				Host string `json:"host"`
				HTTP struct {
					Paths []struct {
						Path     string `json:"path"`
						PathType string `json:"pathType"`
						Backend  struct {
							Service *struct {
								Name string `json:"name"`
								Port struct {
									Name   string `json:"name"`
									Number int    `json:"number"`
								} `json:"port"`
							} `json:"service"`
						} `json:"backend"`
					} `json:"paths"`
				} `json:"http"`
			} `json:"rules"`
		} `json:"spec"`
	}
)

// The peers the manifests name, by the selectors they are written with
// (README, Operations): the NATS and MongoDB pods by their charts'
// app.kubernetes.io/name, the ingress controller and Prometheus by their
// namespaces, cluster DNS, and the internet (every address but the private,
// link-local and carrier-grade NAT ranges, so "the internet" is never a way
// into the cluster).
const (
	peerDNS        = "dns"
	peerNATS       = "nats"
	peerMongo      = "mongodb"
	peerIngress    = "ingress-controller"
	peerMonitoring = "monitoring"
	peerInternet   = "internet"
)

var privateRanges = []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "100.64.0.0/10"}

// classify names a peer, or describes one that is none of the known.
func classify(p npPeer) string {
	ns, pod := "", ""
	if p.NamespaceSelector != nil {
		ns = selectorString(*p.NamespaceSelector)
	}
	if p.PodSelector != nil {
		pod = selectorString(*p.PodSelector)
	}
	switch {
	case p.IPBlock != nil:
		if p.IPBlock.CIDR == "0.0.0.0/0" {
			for _, r := range privateRanges {
				if !contains(p.IPBlock.Except, r) {
					return fmt.Sprintf("ipBlock 0.0.0.0/0 without excepting %s", r)
				}
			}
			return peerInternet
		}
		return "ipBlock " + p.IPBlock.CIDR
	case p.NamespaceSelector != nil && pod == "app.kubernetes.io/name=nats":
		return peerNATS
	case p.NamespaceSelector != nil && pod == "app.kubernetes.io/name=mongodb":
		return peerMongo
	case ns == "kubernetes.io/metadata.name=kube-system" && pod == "k8s-app=kube-dns":
		return peerDNS
	case ns == "kubernetes.io/metadata.name=ingress-nginx" && p.PodSelector == nil:
		return peerIngress
	case ns == "kubernetes.io/metadata.name=monitoring" && p.PodSelector == nil:
		return peerMonitoring
	case p.NamespaceSelector == nil && p.PodSelector != nil:
		return "pods " + pod + " of the namespace"
	}
	return fmt.Sprintf("namespaces {%s} pods {%s}", ns, pod)
}

func selectorString(s labelSelector) string {
	var parts []string
	for _, k := range sortedKeys(s.MatchLabels) {
		parts = append(parts, k+"="+s.MatchLabels[k])
	}
	for _, e := range s.MatchExpressions {
		parts = append(parts, string(e))
	}
	return strings.Join(parts, ",")
}

// selects reports whether s selects pods labelled l.
func selects(s labelSelector, l map[string]string) (bool, error) {
	if len(s.MatchExpressions) > 0 {
		return false, fmt.Errorf("matchExpressions are not checked; use matchLabels")
	}
	for k, v := range s.MatchLabels {
		if l[k] != v {
			return false, nil
		}
	}
	return true, nil
}

// allowed is what the policies selecting pods labelled l allow in one
// direction ("Ingress" or "Egress"), as "peer TCP/port" lines, and whether
// those pods are isolated in that direction at all.
func allowed(t *testing.T, pols []networkPolicy, l map[string]string, c container, dir string) (map[string]bool, bool) {
	t.Helper()
	out := map[string]bool{}
	isolated := false
	for _, p := range pols {
		ok, err := selects(p.Spec.PodSelector, l)
		if err != nil {
			t.Errorf("NetworkPolicy %s: %v", p.Metadata.Name, err)
		}
		types := p.Spec.PolicyTypes
		if len(types) == 0 {
			types = []string{"Ingress"}
			if len(p.Spec.Egress) > 0 {
				types = append(types, "Egress")
			}
		}
		if !ok || !contains(types, dir) {
			continue
		}
		isolated = true
		rules := p.Spec.Ingress
		if dir == "Egress" {
			rules = p.Spec.Egress
		}
		for _, r := range rules {
			peers := r.From
			if dir == "Egress" {
				peers = r.To
			}
			names := []string{"anyone"}
			if len(peers) > 0 {
				names = nil
				for _, pe := range peers {
					names = append(names, classify(pe))
				}
			}
			ports := []string{"every port"}
			if len(r.Ports) > 0 {
				ports = nil
				for _, pp := range r.Ports {
					proto := pp.Protocol
					if proto == "" {
						proto = "TCP"
					}
					n, ok := containerPort(c, pp.Port)
					switch {
					case len(pp.Port) == 0:
						ports = append(ports, proto+"/every port")
					case pp.EndPort != nil:
						ports = append(ports, fmt.Sprintf("%s/%d-%d", proto, n, *pp.EndPort))
					case !ok:
						ports = append(ports, proto+"/"+string(pp.Port))
					default:
						ports = append(ports, proto+"/"+strconv.Itoa(n))
					}
				}
			}
			for _, n := range names {
				for _, p := range ports {
					out[n+" "+p] = true
				}
			}
		}
	}
	return out, isolated
}

// TestManifests_NetworkPoliciesAllowOnlyTheNeededPeers: every pod of the
// namespace is isolated both ways, and what the policies let each service
// reach, and be reached by, is exactly what it needs: DNS, NATS, MongoDB
// unless it is the gateway, the internet on 443 for the services that call
// a third party, the ingress controller only to the public listeners, and
// Prometheus only to /metrics.
func TestManifests_NetworkPoliciesAllowOnlyTheNeededPeers(t *testing.T) {
	specs := services()
	for _, r := range overlays(t) {
		t.Run(r.name, func(t *testing.T) {
			var pols []networkPolicy
			r.all(t, "NetworkPolicy", func(raw json.RawMessage) { pols = append(pols, decode[networkPolicy](t, raw)) })
			for _, w := range r.workloads(t) {
				for _, c := range w.Spec.Template.Spec.Containers {
					labels := w.Spec.Template.Metadata.Labels
					_, isolatedIn := allowed(t, pols, labels, c, "Ingress")
					_, isolatedOut := allowed(t, pols, labels, c, "Egress")
					if !isolatedIn || !isolatedOut {
						t.Errorf("%s/%s: not isolated (ingress %v, egress %v): without a policy a pod may talk to anything", w.Kind, w.Metadata.Name, isolatedIn, isolatedOut)
					}
				}
			}
			// A tool run as a job (the bus admin declaring the topology)
			// reaches DNS and NATS, and nothing reaches it.
			for _, w := range r.workloads(t) {
				for _, c := range w.Spec.Template.Spec.Containers {
					if prog, ok := imageProgram(c.Image); ok && strings.HasPrefix(prog, "tools/") {
						labels := w.Spec.Template.Metadata.Labels
						gotIn, _ := allowed(t, pols, labels, c, "Ingress")
						gotOut, _ := allowed(t, pols, labels, c, "Egress")
						where := w.Kind + "/" + w.Metadata.Name
						compareSets(t, where+" ingress", gotIn, map[string]bool{})
						compareSets(t, where+" egress", gotOut, map[string]bool{
							peerDNS + " UDP/53": true, peerDNS + " TCP/53": true, peerNATS + " TCP/4222": true,
						})
					}
				}
			}
			for name, d := range deployedServices(t, r) {
				sp := specs[name]
				wantOut := map[string]bool{peerDNS + " UDP/53": true, peerDNS + " TCP/53": true}
				for _, p := range sp.egress {
					switch p {
					case peerNATS:
						wantOut[peerNATS+" TCP/4222"] = true
					case peerMongo:
						wantOut[peerMongo+" TCP/27017"] = true
					case peerInternet:
						wantOut[peerInternet+" TCP/443"] = true
					default:
						t.Fatalf("unknown peer %s", p)
					}
				}
				wantIn := map[string]bool{}
				if mp, err := d.listenPort(sp.metrics); err == nil {
					wantIn[fmt.Sprintf("%s TCP/%d", peerMonitoring, mp)] = true
				}
				if sp.public != "" {
					if pp, err := d.listenPort(sp.public); err == nil {
						wantIn[fmt.Sprintf("%s TCP/%d", peerIngress, pp)] = true
					}
				}
				labels := d.w.Spec.Template.Metadata.Labels
				gotIn, _ := allowed(t, pols, labels, d.c, "Ingress")
				gotOut, _ := allowed(t, pols, labels, d.c, "Egress")
				compareSets(t, name+" ingress", gotIn, wantIn)
				compareSets(t, name+" egress", gotOut, wantOut)
			}
		})
	}
}

func compareSets(t *testing.T, what string, got, want map[string]bool) {
	t.Helper()
	var extra, missing []string
	for k := range got {
		if !want[k] {
			extra = append(extra, k)
		}
	}
	for k := range want {
		if !got[k] {
			missing = append(missing, k)
		}
	}
	sort.Strings(extra)
	sort.Strings(missing)
	if len(extra) > 0 {
		t.Errorf("%s: allows more than it needs: %v", what, extra)
	}
	if len(missing) > 0 {
		t.Errorf("%s: does not allow what it needs: %v", what, missing)
	}
}

// publicURLs are the variables that tell a service its own or another's
// public address, and the service whose Ingress host each must name.
func publicURLs() []struct{ service, variable, backend string } {
	return []struct{ service, variable, backend string }{
		{"auth", "AUTH_PUBLIC_URL", "auth"},       // sign-in links, OAuth callbacks, the CSRF origin
		{"auth", "GATEWAY_PUBLIC_URL", "gateway"}, // the dashboard's quickstart
		{"notifier", "PUBLIC_URL", "auth"},        // links in mails
	}
}

// TestManifests_PublicRoutesAreBehindAnIngressWithTLS: the gateway, the
// account API with its dashboard, and Stripe's webhook are routed by an
// Ingress whose every host has TLS, each to its service's public listener
// (never an admin or metrics port), payments only at its webhook's path,
// and nothing else; and the public URLs the services put in links and
// pages are those hosts over https.
func TestManifests_PublicRoutesAreBehindAnIngressWithTLS(t *testing.T) {
	specs := services()
	src := newScans(t).of("services/payments")
	if !src.literals["POST "+specs["payments"].publicPath] {
		t.Errorf("payments: no POST %s route in its source", specs["payments"].publicPath)
	}
	for _, r := range overlays(t) {
		t.Run(r.name, func(t *testing.T) {
			deployed := deployedServices(t, r)
			svcs := r.services(t)
			hosts := map[string]string{} // backend service → host
			r.all(t, "Ingress", func(raw json.RawMessage) {
				ing := decode[ingress](t, raw)
				if len(ing.Spec.DefaultBackend) > 0 {
					t.Errorf("Ingress %s: a default backend routes every other path", ing.Metadata.Name)
				}
				if ing.Spec.IngressClassName == "" {
					t.Errorf("Ingress %s: no ingressClassName", ing.Metadata.Name)
				}
				tls := map[string]bool{}
				for _, x := range ing.Spec.TLS {
					for _, h := range x.Hosts {
						tls[h] = x.SecretName != ""
					}
				}
				for _, rule := range ing.Spec.Rules {
					if rule.Host == "" || !tls[rule.Host] {
						t.Errorf("Ingress %s: host %q has no TLS (a hosts entry with a secretName)", ing.Metadata.Name, rule.Host)
					}
					for _, p := range rule.HTTP.Paths {
						be := p.Backend.Service
						if be == nil {
							t.Errorf("Ingress %s: %s%s routes to no Service", ing.Metadata.Name, rule.Host, p.Path)
							continue
						}
						where := fmt.Sprintf("Ingress %s: %s%s → %s", ing.Metadata.Name, rule.Host, p.Path, be.Name)
						svc, ok := svcs[be.Name]
						if !ok {
							t.Errorf("%s: no such Service", where)
							continue
						}
						target, sp := "", spec{}
						for name, d := range deployed {
							if ok, _ := selects(labelSelector{MatchLabels: svc.Spec.Selector}, d.w.Spec.Template.Metadata.Labels); ok && len(svc.Spec.Selector) > 0 {
								target, sp = name, specs[name]
							}
						}
						if sp.public == "" {
							t.Errorf("%s: reaches %q, which nobody outside may reach", where, target)
							continue
						}
						if p.Path != sp.publicPath || (p.PathType != "Prefix" && p.PathType != "Exact") {
							t.Errorf("%s: path %s (%s), want %s", where, p.Path, p.PathType, sp.publicPath)
						}
						d := deployed[target]
						want, err := d.listenPort(sp.public)
						if err != nil {
							t.Errorf("%s: %v", where, err)
							continue
						}
						got := -1
						for _, sport := range svc.Spec.Ports {
							if (be.Port.Name != "" && sport.Name == be.Port.Name) || (be.Port.Number != 0 && sport.Port == be.Port.Number) {
								tp := sport.TargetPort
								if len(tp) == 0 {
									tp = json.RawMessage(strconv.Itoa(sport.Port))
								}
								got, _ = containerPort(d.c, tp)
							}
						}
						if got != want {
							t.Errorf("%s: reaches container port %d, but %s listens on %d", where, got, sp.public, want)
						}
						if old, ok := hosts[target]; ok && old != rule.Host {
							t.Errorf("%s: %s is also routed on %s", where, target, old)
						}
						hosts[target] = rule.Host
					}
				}
			})
			for name, sp := range specs {
				if sp.public != "" && hosts[name] == "" {
					t.Errorf("%s: no Ingress routes to it", name)
				}
			}
			for _, u := range publicURLs() {
				d, ok := deployed[u.service]
				if !ok {
					continue
				}
				v, _ := d.env.get(u.variable)
				if want := "https://" + hosts[u.backend]; strings.TrimSuffix(v.value, "/") != want {
					t.Errorf("%s: %s=%q, want %q (the Ingress's host of %s)", u.service, u.variable, v.value, want, u.backend)
				}
			}
		})
	}
}
