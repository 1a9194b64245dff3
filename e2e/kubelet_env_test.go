package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/micro/platform/internal/kubetest"
)

// environ resolves the container's environment as a kubelet does: envFrom sources in
// order (a later source wins), then env (which wins over envFrom), plus HOSTNAME. HOME
// and TMPDIR point into the pod's directory (the template mounts an emptyDir on /tmp).
// $(VAR) references in values are not expanded.
func (k *processKubelet) environ(ctx context.Context, pod *corev1.Pod, c *corev1.Container, p *podProcess) ([]string, error) {
	env := map[string]string{}
	var order []string
	set := func(key, v string) {
		if _, ok := env[key]; !ok {
			order = append(order, key)
		}
		env[key] = v
	}
	for _, from := range c.EnvFrom {
		data, err := k.sourceData(ctx, pod.Namespace, from.SecretRef, from.ConfigMapRef)
		if err != nil {
			return nil, err
		}
		for key, v := range data {
			set(from.Prefix+key, v)
		}
	}
	for _, e := range c.Env {
		v := e.Value
		if f := e.ValueFrom; f != nil {
			var err error
			switch {
			case f.FieldRef != nil:
				v, err = fieldValue(pod, f.FieldRef.FieldPath)
			case f.SecretKeyRef != nil:
				v, err = k.keyValue(ctx, pod.Namespace, &corev1.Secret{}, f.SecretKeyRef.Name, f.SecretKeyRef.Key, f.SecretKeyRef.Optional)
			case f.ConfigMapKeyRef != nil:
				v, err = k.keyValue(ctx, pod.Namespace, &corev1.ConfigMap{}, f.ConfigMapKeyRef.Name, f.ConfigMapKeyRef.Key, f.ConfigMapKeyRef.Optional)
			default:
				err = fmt.Errorf("env %s: unsupported valueFrom", e.Name)
			}
			if err != nil {
				return nil, err
			}
		}
		set(e.Name, v)
	}
	set("HOSTNAME", pod.Name)
	if _, ok := env["HOME"]; !ok {
		set("HOME", p.dir)
	}
	set("TMPDIR", filepath.Join(p.dir, "tmp"))
	out := make([]string, 0, len(order))
	for _, key := range order {
		out = append(out, key+"="+env[key])
	}
	return out, nil
}

// sourceData reads an envFrom Secret or ConfigMap.
func (k *processKubelet) sourceData(ctx context.Context, ns string, s *corev1.SecretEnvSource, cm *corev1.ConfigMapEnvSource) (map[string]string, error) {
	out := map[string]string{}
	switch {
	case s != nil:
		var sec corev1.Secret
		if err := k.c.Get(ctx, client.ObjectKey{Namespace: ns, Name: s.Name}, &sec); err != nil {
			if apierrors.IsNotFound(err) && s.Optional != nil && *s.Optional {
				return out, nil
			}
			return nil, fmt.Errorf("secret %q: %w", s.Name, err)
		}
		for key, v := range sec.Data {
			out[key] = string(v)
		}
	case cm != nil:
		var m corev1.ConfigMap
		if err := k.c.Get(ctx, client.ObjectKey{Namespace: ns, Name: cm.Name}, &m); err != nil {
			if apierrors.IsNotFound(err) && cm.Optional != nil && *cm.Optional {
				return out, nil
			}
			return nil, fmt.Errorf("configmap %q: %w", cm.Name, err)
		}
		for key, v := range m.Data {
			out[key] = v
		}
	}
	return out, nil
}

// keyValue reads one key of a Secret or ConfigMap.
func (k *processKubelet) keyValue(ctx context.Context, ns string, obj client.Object, objName, key string, optional *bool) (string, error) {
	if err := k.c.Get(ctx, client.ObjectKey{Namespace: ns, Name: objName}, obj); err != nil {
		if apierrors.IsNotFound(err) && optional != nil && *optional {
			return "", nil
		}
		return "", fmt.Errorf("%s: %w", objName, err)
	}
	var v string
	var ok bool
	switch o := obj.(type) {
	case *corev1.Secret:
		var b []byte
		b, ok = o.Data[key]
		v = string(b)
	case *corev1.ConfigMap:
		v, ok = o.Data[key]
	}
	if !ok && (optional == nil || !*optional) {
		return "", fmt.Errorf("%s has no key %q", objName, key)
	}
	return v, nil
}

// fieldValue resolves a downward API field reference.
func fieldValue(pod *corev1.Pod, field string) (string, error) {
	switch field {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.podIP", "status.hostIP":
		return "127.0.0.1", nil
	}
	return "", fmt.Errorf("unsupported fieldRef %q", field)
}

// TestProcessKubeletEnviron: the process kubelet resolves a container's environment as a
// kubelet does, against the test API server's Secrets and ConfigMaps.
func TestProcessKubeletEnviron(t *testing.T) {
	skipShort(t)
	t.Parallel()
	cfg := kubetest.Config(t)
	c, err := client.NewWithWatch(cfg, client.Options{})
	must(t, err)
	ctx := t.Context()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "kubelet-env-"}}
	must(t, c.Create(ctx, ns))
	t.Cleanup(func() { _ = c.Delete(context.Background(), ns) })
	for _, o := range []client.Object{
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: ns.Name}, Data: map[string][]byte{"A": []byte("1"), "B": []byte("1")}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "b", Namespace: ns.Name}, Data: map[string][]byte{"B": []byte("2"), "C": []byte("2")}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: ns.Name}, Data: map[string]string{"D": "cm"}},
	} {
		must(t, c.Create(ctx, o))
	}
	k := &processKubelet{t: t, c: c}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "svc-abc", Namespace: ns.Name, UID: "u-1"}, Spec: corev1.PodSpec{NodeName: "n1"}}
	yes := true
	secretRef := func(name string) corev1.EnvFromSource {
		return corev1.EnvFromSource{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: name}}}
	}
	keyRef := func(name, key string, optional *bool) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: key, Optional: optional}}
	}
	tests := []struct {
		name    string
		c       corev1.Container
		want    map[string]string
		wantErr string
	}{
		{
			name: "later envFrom wins, env wins over envFrom, downward API, key refs",
			c: corev1.Container{
				EnvFrom: []corev1.EnvFromSource{secretRef("a"), secretRef("b"),
					{Prefix: "CM_", ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "c"}}}},
				Env: []corev1.EnvVar{
					{Name: "C", Value: "explicit"},
					{Name: "MICRO_SERVER_ID", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
					{Name: "NODE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}},
					{Name: "S", ValueFrom: keyRef("a", "A", nil)},
					{Name: "OPT", ValueFrom: keyRef("missing", "X", &yes)},
				},
			},
			want: map[string]string{"A": "1", "B": "2", "C": "explicit", "CM_D": "cm", "MICRO_SERVER_ID": "svc-abc", "NODE": "n1", "S": "1", "OPT": "", "HOSTNAME": "svc-abc"},
		},
		{name: "missing envFrom secret", c: corev1.Container{EnvFrom: []corev1.EnvFromSource{secretRef("nope")}}, wantErr: `secret "nope"`},
		{name: "missing key", c: corev1.Container{Env: []corev1.EnvVar{{Name: "X", ValueFrom: keyRef("a", "Z", nil)}}}, wantErr: `no key "Z"`},
		{name: "unsupported field", c: corev1.Container{Env: []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}}}}}, wantErr: "unsupported fieldRef"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, err := k.environ(ctx, pod, &tt.c, &podProcess{dir: t.TempDir()})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("want an error with %q, got %v", tt.wantErr, err)
				}
				return
			}
			must(t, err)
			got := map[string]string{}
			for _, kv := range env {
				k, v, _ := strings.Cut(kv, "=")
				got[k] = v
			}
			for k, v := range tt.want {
				if g, ok := got[k]; !ok || g != v {
					t.Errorf("%s = %q (set: %v), want %q", k, g, ok, v)
				}
			}
		})
	}
}
