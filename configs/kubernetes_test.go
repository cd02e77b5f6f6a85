package configs

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"go.yaml.in/yaml/v3"
)

// manifest is the part of a Kubernetes object these checks read.
type manifest struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name   string            `yaml:"name"`
		Labels map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
	Resources []string `yaml:"resources"` // Kustomization
	Spec      struct {
		// Deployment
		Template struct {
			Metadata struct {
				Labels map[string]string `yaml:"labels"`
			} `yaml:"metadata"`
			Spec struct {
				Containers []struct {
					Ports []struct {
						Name          string `yaml:"name"`
						ContainerPort int    `yaml:"containerPort"`
					} `yaml:"ports"`
				} `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
		// Service (a Deployment's is a LabelSelector, hence any)
		Selector map[string]any `yaml:"selector"`
		Ports    []struct {
			TargetPort string `yaml:"targetPort"`
		} `yaml:"ports"`
		// NetworkPolicy
		PodSelector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"podSelector"`
		PolicyTypes []string `yaml:"policyTypes"`
		Ingress     []struct {
			From []struct {
				PodSelector       *selector `yaml:"podSelector"`
				NamespaceSelector *selector `yaml:"namespaceSelector"`
				IPBlock           any       `yaml:"ipBlock"`
			} `yaml:"from"`
			Ports []struct {
				Port string `yaml:"port"`
			} `yaml:"ports"`
		} `yaml:"ingress"`
	} `yaml:"spec"`
}

type selector struct {
	MatchLabels map[string]string `yaml:"matchLabels"`
}

func readManifests(t *testing.T) map[string][]manifest {
	t.Helper()
	files, err := filepath.Glob("kubernetes/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	out := map[string][]manifest{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for {
			var m manifest
			if err := dec.Decode(&m); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			out[filepath.Base(f)] = append(out[filepath.Base(f)], m)
		}
	}
	return out
}

func subset(sub, of map[string]string) bool {
	for k, v := range sub {
		if of[k] != v {
			return false
		}
	}
	return len(sub) > 0
}

// TestKubernetesManifestsFitTogether checks what kubectl would only find
// out on a cluster: every file is in the kustomization, selectors select
// the Deployment's pods, and every named port exists.
func TestKubernetesManifestsFitTogether(t *testing.T) {
	ms := readManifests(t)
	kust := ms["kustomization.yaml"]
	if len(kust) != 1 {
		t.Fatalf("kustomization.yaml: %d documents", len(kust))
	}
	for name := range ms {
		if name != "kustomization.yaml" && !slices.Contains(kust[0].Resources, name) {
			t.Errorf("%s is not listed in kustomization.yaml", name)
		}
	}
	for _, r := range kust[0].Resources {
		if _, ok := ms[r]; !ok {
			t.Errorf("kustomization.yaml lists %s, which does not exist", r)
		}
	}

	var podLabels map[string]string
	ports := map[string]bool{}
	for _, m := range ms["deployment.yaml"] {
		if m.Kind == "Deployment" {
			podLabels = m.Spec.Template.Metadata.Labels
			for _, c := range m.Spec.Template.Spec.Containers {
				for _, p := range c.Ports {
					ports[p.Name] = true
				}
			}
		}
	}
	if podLabels == nil || !ports["admin"] || !ports["otlp-grpc"] || !ports["otlp-http"] {
		t.Fatalf("deployment.yaml: pod labels %v, ports %v", podLabels, ports)
	}
	for _, m := range ms["service.yaml"] {
		sel := map[string]string{}
		for k, v := range m.Spec.Selector {
			sel[k], _ = v.(string)
		}
		if !subset(sel, podLabels) {
			t.Errorf("Service %s selects %v, not the pods (%v)", m.Metadata.Name, m.Spec.Selector, podLabels)
		}
		for _, p := range m.Spec.Ports {
			if !ports[p.TargetPort] {
				t.Errorf("Service %s targets port %q, which the pods do not name", m.Metadata.Name, p.TargetPort)
			}
		}
	}
}

// TestNetworkPolicyAdmitsOnlyTheNamespaceAndScrapers pins what the policy
// is for: OTLP from this namespace's pods, the admin port only from
// Prometheus in another namespace, nothing from anywhere else.
func TestNetworkPolicyAdmitsOnlyTheNamespaceAndScrapers(t *testing.T) {
	ms := readManifests(t)
	var np *manifest
	for i, m := range ms["networkpolicy.yaml"] {
		if m.Kind == "NetworkPolicy" {
			np = &ms["networkpolicy.yaml"][i]
		}
	}
	if np == nil {
		t.Fatal("networkpolicy.yaml holds no NetworkPolicy")
	}
	var podLabels map[string]string
	for _, m := range ms["deployment.yaml"] {
		if m.Kind == "Deployment" {
			podLabels = m.Spec.Template.Metadata.Labels
		}
	}
	if !subset(np.Spec.PodSelector.MatchLabels, podLabels) {
		t.Errorf("the policy selects %v, not the gateway's pods (%v)", np.Spec.PodSelector.MatchLabels, podLabels)
	}
	if !slices.Contains(np.Spec.PolicyTypes, "Ingress") {
		t.Errorf("policyTypes %v: without Ingress nothing is restricted", np.Spec.PolicyTypes)
	}
	admitted := map[string]string{} // port -> who
	for i, rule := range np.Spec.Ingress {
		if len(rule.From) == 0 || len(rule.Ports) == 0 {
			t.Errorf("ingress[%d]: an empty from or ports admits everyone or every port", i)
		}
		for _, p := range rule.Ports {
			for _, f := range rule.From {
				switch {
				case f.IPBlock != nil:
					t.Errorf("ingress[%d]: ipBlock admits outside the cluster", i)
				case f.NamespaceSelector == nil && f.PodSelector != nil && len(f.PodSelector.MatchLabels) == 0:
					admitted[p.Port] = "namespace"
				case f.NamespaceSelector != nil && len(f.NamespaceSelector.MatchLabels) > 0 && f.PodSelector != nil && len(f.PodSelector.MatchLabels) > 0:
					admitted[p.Port] = "scrapers"
				default:
					t.Errorf("ingress[%d].from: %+v is broader than this namespace or one namespace's scrapers", i, f)
				}
			}
		}
	}
	want := map[string]string{"otlp-grpc": "namespace", "otlp-http": "namespace", "admin": "scrapers"}
	for port, who := range want {
		if admitted[port] != who {
			t.Errorf("port %s admitted for %q, want %q", port, admitted[port], who)
		}
	}
	for port := range admitted {
		if _, ok := want[port]; !ok {
			t.Errorf("port %s admitted, want only %v", port, want)
		}
	}
}
