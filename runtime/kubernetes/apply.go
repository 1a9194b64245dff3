package kubernetes

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platform "github.com/micro/platform"
	"github.com/micro/platform/runtime"
)

// applyWorkload converges everything workload spec needs: its namespace's objects, its
// service's Service, its Secret and its Deployment.
func (d *Driver) applyWorkload(ctx context.Context, spec *runtime.WorkloadSpec) error {
	for _, obj := range d.namespaceObjects(spec.Namespace, spec.NamespaceEnv) {
		if err := d.apply(ctx, obj); err != nil {
			return err
		}
	}
	if err := d.apply(ctx, d.serviceObject(spec.Namespace, spec.Service)); err != nil {
		return err
	}
	secret, deploy, err := d.workloadObjects(spec)
	if err != nil {
		return platform.Errorf(platform.EINTERNAL, "workload %s: %v", spec.ID, err)
	}
	if err := d.apply(ctx, secret); err != nil {
		return err
	}
	return d.apply(ctx, deploy)
}

// apply server-side applies desired unless the cached object already holds every field
// of it. An object of the same name without the owner label is foreign: apply returns
// ECONFLICT rather than take it over. ForceOwnership takes back fields someone edited by
// hand on an owned object.
func (d *Driver) apply(ctx context.Context, desired client.Object) error {
	current, err := d.newLike(desired)
	if err != nil {
		return err
	}
	var foreign map[string]any // keys others added where only the desired ones may be
	err = d.cache.Get(ctx, client.ObjectKeyFromObject(desired), current)
	switch {
	case err == nil:
		same, err := holds(current, desired)
		if err != nil {
			return err
		}
		if same {
			return nil
		}
		if foreign, err = extraKeys(current, desired); err != nil {
			return err
		}
	case !apierrors.IsNotFound(err):
		return fmt.Errorf("read %s: %w", describe(desired), err)
	default:
		// Not in the owned cache: new, just created (the cache lags), or foreign.
		if err := d.client.Get(ctx, client.ObjectKeyFromObject(desired), current); err == nil {
			if current.GetLabels()[LabelOwner] != d.opts.Owner {
				return platform.Errorf(platform.ECONFLICT, "kubernetes: %s exists and is not the platform's (no %s=%s label)", describe(desired), LabelOwner, d.opts.Owner).
					WithHint("rename or delete it, or label it %s=%s to hand it to the platform", LabelOwner, d.opts.Owner)
			}
		} else if !apierrors.IsNotFound(err) {
			return wrapAPI("read "+describe(desired), err)
		}
	}
	what := describe(desired)
	if err := d.client.Patch(ctx, desired, client.Apply, client.FieldOwner(FieldManager), client.ForceOwnership); err != nil {
		return wrapAPI("apply "+what, err)
	}
	if len(foreign) > 0 {
		// Apply only removes fields this manager owned; keys another manager added to a
		// map that must be exact go with a merge patch setting them to null.
		patch, err := json.Marshal(foreign)
		if err != nil {
			return err
		}
		if err := d.client.Patch(ctx, desired, client.RawPatch(types.MergePatchType, patch), client.FieldOwner(FieldManager)); err != nil {
			return wrapAPI("remove foreign keys of "+what, err)
		}
	}
	return nil
}

// exactMaps are, by type, the fields compared key for key, where a key nobody asked for
// changes what the object does: a Secret's data (an env var every instance gets), a
// ResourceQuota's hard limits, a NetworkPolicy's whole spec (a label added to its pod
// selector exempts pods from it). Elsewhere, and in labels and annotations in particular,
// keys others add (kubectl, the deployment controller, admission) are left alone.
func exactMaps(obj client.Object) [][]string {
	switch obj.(type) {
	case *corev1.Secret:
		return [][]string{{"data"}}
	case *corev1.ResourceQuota:
		return [][]string{{"spec", "hard"}}
	case *networkingv1.NetworkPolicy:
		return [][]string{{"spec"}}
	}
	return nil
}

// extraKeys returns a JSON merge patch removing the keys current has and desired lacks in
// its flat exact maps (Secret data, quota limits), nil when there are none. A
// NetworkPolicy's spec needs none: its selectors and rules are atomic, so apply replaces
// them whole.
func extraKeys(current, desired client.Object) (map[string]any, error) {
	c, err := k8sruntime.DefaultUnstructuredConverter.ToUnstructured(current)
	if err != nil {
		return nil, err
	}
	w, err := k8sruntime.DefaultUnstructuredConverter.ToUnstructured(desired)
	if err != nil {
		return nil, err
	}
	var patch map[string]any
	for _, path := range exactMaps(desired) {
		if _, isPolicy := desired.(*networkingv1.NetworkPolicy); isPolicy {
			continue
		}
		got, _, _ := unstructured.NestedMap(c, path...)
		want, _, _ := unstructured.NestedMap(w, path...)
		for k := range got {
			if _, ok := want[k]; ok {
				continue
			}
			if patch == nil {
				patch = map[string]any{}
			}
			if err := unstructured.SetNestedField(patch, nil, append(slices.Clone(path), k)...); err != nil {
				return nil, err
			}
		}
	}
	return patch, nil
}

// newLike returns an empty object of desired's type.
func (d *Driver) newLike(desired client.Object) (client.Object, error) {
	obj, ok := reflect.New(reflect.TypeOf(desired).Elem()).Interface().(client.Object)
	if !ok {
		return nil, platform.Errorf(platform.EINTERNAL, "not an object: %T", desired)
	}
	return obj, nil
}

// holds reports whether current has every field desired sets, with the same value, and
// nothing more in the fields of exactMaps.
func holds(current, desired client.Object) (bool, error) {
	c, err := k8sruntime.DefaultUnstructuredConverter.ToUnstructured(current)
	if err != nil {
		return false, err
	}
	w, err := k8sruntime.DefaultUnstructuredConverter.ToUnstructured(desired)
	if err != nil {
		return false, err
	}
	delete(w, "apiVersion")
	delete(w, "kind")
	if !contains(c, w) {
		return false, nil
	}
	for _, path := range exactMaps(desired) {
		got, _, _ := unstructured.NestedFieldNoCopy(c, path...)
		want, _, _ := unstructured.NestedFieldNoCopy(w, path...)
		if !sameValue(got, want) {
			return false, nil
		}
	}
	return true, nil
}

// sameValue is reflect.DeepEqual, but an empty map is the same as none (the API server
// drops an empty Secret's data).
func sameValue(a, b any) bool {
	empty := func(v any) bool {
		m, ok := v.(map[string]any)
		return v == nil || ok && len(m) == 0
	}
	if empty(a) && empty(b) {
		return true
	}
	return reflect.DeepEqual(a, b)
}

// contains reports whether actual holds every field of desired: maps by key, lists
// element by element and of the same length, other values equal. A nil desired value
// (an unset field) holds of anything.
func contains(actual, desired any) bool {
	switch want := desired.(type) {
	case nil:
		return true
	case map[string]any:
		got, ok := actual.(map[string]any)
		if !ok {
			return len(want) == 0 && actual == nil
		}
		for k, v := range want {
			if !contains(got[k], v) {
				return false
			}
		}
		return true
	case []any:
		got, ok := actual.([]any)
		if !ok {
			return len(want) == 0 && actual == nil
		}
		if len(got) != len(want) {
			return false
		}
		for i := range want {
			if !contains(got[i], want[i]) {
				return false
			}
		}
		return true
	default:
		return reflect.DeepEqual(actual, desired)
	}
}

func describe(obj client.Object) string {
	kind := obj.GetObjectKind().GroupVersionKind().Kind
	if obj.GetNamespace() == "" {
		return fmt.Sprintf("%s %s", kind, obj.GetName())
	}
	return fmt.Sprintf("%s %s/%s", kind, obj.GetNamespace(), obj.GetName())
}

// wrapAPI gives an API error a platform code.
func wrapAPI(what string, err error) error {
	code := platform.EUNAVAILABLE
	switch {
	case apierrors.IsInvalid(err), apierrors.IsBadRequest(err):
		code = platform.EINVALID
	case apierrors.IsForbidden(err):
		code = platform.EFORBIDDEN
	case apierrors.IsConflict(err), apierrors.IsAlreadyExists(err):
		code = platform.ECONFLICT
	case apierrors.IsNotFound(err):
		code = platform.ENOTFOUND
	}
	return platform.Errorf(code, "kubernetes: %s: %v", what, err)
}

// deleteWorkloadObjects deletes the owned Deployment and env Secret of workload id in
// Kubernetes namespace namespace. The cluster's garbage collector removes the Deployment's
// ReplicaSets and pods, each pod with its terminationGracePeriodSeconds: the platform may
// not delete pods itself.
func (d *Driver) deleteWorkloadObjects(ctx context.Context, namespace, id string) error {
	if id == "" {
		return nil
	}
	sel := []client.ListOption{client.InNamespace(namespace), client.MatchingLabels{LabelRelease: id}}
	var deploys appsv1.DeploymentList
	if err := d.cache.List(ctx, &deploys, sel...); err != nil {
		return fmt.Errorf("list deployments: %w", err)
	}
	var secrets corev1.SecretList
	if err := d.cache.List(ctx, &secrets, sel...); err != nil {
		return fmt.Errorf("list secrets: %w", err)
	}
	var objs []client.Object
	for i := range deploys.Items {
		objs = append(objs, &deploys.Items[i])
	}
	for i := range secrets.Items {
		objs = append(objs, &secrets.Items[i])
	}
	for _, obj := range objs {
		if err := d.deleteOwned(ctx, obj); err != nil {
			return err
		}
	}
	return nil
}

// deleteUnused deletes the Service of service when no workload of it but stopped is left,
// and the namespace's objects when no workload of the namespace is. Workloads count when
// desired by this driver or present on the cluster.
func (d *Driver) deleteUnused(ctx context.Context, ns, service, stopped string) error {
	var deploys appsv1.DeploymentList
	if err := d.cache.List(ctx, &deploys, client.InNamespace(d.namespaceName(ns))); err != nil {
		return fmt.Errorf("list deployments: %w", err)
	}
	inNamespace, ofService := 0, 0
	seen := map[string]bool{stopped: true}
	count := func(id, svc string) {
		if seen[id] {
			return
		}
		seen[id] = true
		inNamespace++
		if svc == service {
			ofService++
		}
	}
	for _, s := range d.desired(ns, "") {
		count(s.ID, s.Service)
	}
	for _, dep := range deploys.Items {
		if dep.DeletionTimestamp == nil {
			count(dep.Labels[LabelRelease], dep.Labels[LabelService])
		}
	}
	var gone []client.Object
	if ofService == 0 {
		gone = append(gone, d.serviceObject(ns, service))
	}
	if inNamespace == 0 {
		for _, obj := range d.namespaceObjects(ns, nil) {
			if _, isNS := obj.(*corev1.Namespace); !isNS {
				gone = append(gone, obj)
			}
		}
	}
	for _, obj := range gone {
		if err := d.deleteOwned(ctx, obj); err != nil {
			return err
		}
	}
	return nil
}

// deleteOwned deletes the object named like obj if the cache holds it (so it is owned),
// with a UID precondition so a foreign object created meanwhile under that name survives.
// Dependents (a Deployment's ReplicaSets and pods) go in the background.
func (d *Driver) deleteOwned(ctx context.Context, obj client.Object) error {
	current, err := d.newLike(obj)
	if err != nil {
		return err
	}
	if err := d.cache.Get(ctx, client.ObjectKeyFromObject(obj), current); apierrors.IsNotFound(err) {
		return nil
	} else if err != nil {
		return fmt.Errorf("read %s: %w", describe(obj), err)
	}
	if current.GetLabels()[LabelOwner] != d.opts.Owner {
		return nil
	}
	uid := current.GetUID()
	err = d.client.Delete(ctx, current, client.Preconditions{UID: &uid}, client.PropagationPolicy(metav1.DeletePropagationBackground))
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return wrapAPI("delete "+describe(obj), err)
	}
	return nil
}

// waitPodsGone waits until none of pods is in the cache and each one's stopped event was
// reported.
func (d *Driver) waitPodsGone(ctx context.Context, pods []corev1.Pod, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		left := 0
		for i := range pods {
			var p corev1.Pod
			err := d.cache.Get(ctx, client.ObjectKeyFromObject(&pods[i]), &p)
			if err == nil && p.UID == pods[i].UID || d.tracked(pods[i].UID) {
				left++
			}
		}
		if left == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return platform.Errorf(platform.EUNAVAILABLE, "kubernetes: %d pods still terminating after %v", left, timeout)
		case <-time.After(25 * time.Millisecond):
		}
	}
}

func (d *Driver) tracked(uid types.UID) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.pods[uid]
	return ok
}

// Types of the objects the driver owns and watches.
var ownedTypes = []client.Object{
	&corev1.Namespace{}, &corev1.Secret{}, &corev1.ResourceQuota{},
	&corev1.LimitRange{}, &networkingv1.NetworkPolicy{}, &corev1.Service{}, &appsv1.Deployment{},
}
