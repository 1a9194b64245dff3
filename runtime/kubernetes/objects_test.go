package kubernetes

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/micro/platform/runtime"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.yaml")

// TestObjectsGolden pins what the driver applies for one workload: the namespace's
// objects, the Service, the env Secret and the Deployment, in testdata/objects.golden.yaml
// (go test -run Golden -update rewrites it after review).
func TestObjectsGolden(t *testing.T) {
	d := &Driver{opts: Options{}}
	d.opts.setDefaults()
	spec := runtime.WorkloadSpec{
		ID: "r-0123456789abcdef", Namespace: "acme", Service: "hello", Version: "v1.2.0",
		Artifact:     "registry.example/acme/hello@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		Replicas:     2,
		Env:          map[string]string{"GREETING": "hi", "MICRO_SERVER_NAME": "hello"},
		NamespaceEnv: map[string]string{"MICRO_REGISTRY": "nats", "MICRO_REGISTRY_ADDRESS": "nats://ns-acme:example@platform-mesh.micro-platform.svc:4222"},
		Resources:    runtime.Resources{CPUMillis: 250},
	}
	objs := d.namespaceObjects(spec.Namespace, spec.NamespaceEnv)
	objs = append(objs, d.serviceObject(spec.Namespace, spec.Service))
	secret, deploy, err := d.workloadObjects(&spec)
	if err != nil {
		t.Fatal(err)
	}
	objs = append(objs, secret, deploy)
	var got bytes.Buffer
	for _, obj := range objs {
		b, err := yaml.Marshal(obj.(client.Object))
		if err != nil {
			t.Fatal(err)
		}
		got.WriteString("---\n")
		got.Write(b)
	}
	path := filepath.Join("testdata", "objects.golden.yaml")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Errorf("applied objects differ from %s (run with -update after review):\n%s", path, got.String())
	}
}
