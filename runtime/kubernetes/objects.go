package kubernetes

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"maps"
	"net/netip"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/micro/platform/runtime"
)

// Labels and annotations the driver puts on what it creates. The owner label marks an
// object as the platform's: the driver reads, changes and deletes nothing without it.
const (
	LabelOwner     = "platform.micro.mu/owner"
	LabelNamespace = "platform.micro.mu/namespace"
	LabelService   = "platform.micro.mu/service"
	LabelRelease   = "platform.micro.mu/release"
	LabelVersion   = "platform.micro.mu/version"
	labelManagedBy = "app.kubernetes.io/managed-by"
	managedBy      = "micro-platform"

	// AnnotationSpec on a Deployment holds its workload spec without the environment, so
	// a restarted platform re-adopts the workload from the cluster alone.
	AnnotationSpec = "platform.micro.mu/spec"
	// AnnotationEnvHash on a pod template changes with the workload's environment, so an
	// environment change rolls the pods although envFrom Secrets do not.
	AnnotationEnvHash = "platform.micro.mu/env-hash"
)

// Names of the per-namespace objects.
const (
	meshSecretName    = "platform-mesh"
	pullSecretName    = "platform-pull"
	quotaName         = "platform"
	limitRangeName    = "platform"
	networkPolicyName = "platform-ingress"
	// serviceAccountName is the namespace's default account, which has no RBAC unless
	// someone grants it some; the pods do not mount its token either way.
	serviceAccountName = "default"
	containerName      = "service"
	envServerID        = "MICRO_SERVER_ID"
)

// namespaceName is the Kubernetes namespace of platform namespace ns.
func (d *Driver) namespaceName(ns string) string { return d.opts.NamespacePrefix + ns }

// deploymentName is the Deployment of a workload: its service and a short, stable digest of
// the workload (release) ID.
func deploymentName(spec *runtime.WorkloadSpec) string {
	sum := sha256.Sum256([]byte(spec.ID))
	return spec.Service + "-" + hex.EncodeToString(sum[:5])
}

func envSecretName(spec *runtime.WorkloadSpec) string { return deploymentName(spec) + "-env" }

// baseLabels are the labels of every object of platform namespace ns.
func (d *Driver) baseLabels(ns string) map[string]string {
	return map[string]string{LabelOwner: d.opts.Owner, LabelNamespace: ns, labelManagedBy: managedBy}
}

func (d *Driver) serviceLabels(ns, service string) map[string]string {
	l := d.baseLabels(ns)
	l[LabelService] = service
	return l
}

func (d *Driver) workloadLabels(spec *runtime.WorkloadSpec) map[string]string {
	l := d.serviceLabels(spec.Namespace, spec.Service)
	l[LabelRelease] = spec.ID
	if len(validation.IsValidLabelValue(spec.Version)) == 0 {
		l[LabelVersion] = spec.Version
	}
	return l
}

func meta(name, namespace string, labels map[string]string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: labels}
}

// namespaceObjects are the objects every platform namespace with workloads has: the
// Namespace, its mesh credentials, its image pull credential (if any), quota, default
// limits and network policy (named platform-ingress, as when it restricted ingress only).
func (d *Driver) namespaceObjects(ns string, meshEnv map[string]string) []client.Object {
	name := d.namespaceName(ns)
	nsLabels := d.baseLabels(ns)
	// Every pod the driver creates satisfies the restricted Pod Security Standard; enforce
	// it so nothing else in the namespace can run privileged either.
	nsLabels["pod-security.kubernetes.io/enforce"] = "restricted"
	q := d.opts.Quota
	def := d.opts.DefaultResources
	limits := corev1.ResourceList{corev1.ResourceCPU: cpu(def.CPUMillis), corev1.ResourceMemory: memory(def.MemoryBytes)}
	objs := []client.Object{
		&corev1.Namespace{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
			ObjectMeta: meta(name, "", nsLabels),
		},
		&corev1.Secret{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
			ObjectMeta: meta(meshSecretName, name, d.baseLabels(ns)),
			Type:       corev1.SecretTypeOpaque,
			Data:       secretData(meshEnv),
		},
		&corev1.ResourceQuota{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ResourceQuota"},
			ObjectMeta: meta(quotaName, name, d.baseLabels(ns)),
			Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{
				corev1.ResourcePods:           *resource.NewQuantity(int64(q.Pods), resource.DecimalSI),
				corev1.ResourceRequestsCPU:    cpu(q.CPUMillis),
				corev1.ResourceLimitsCPU:      cpu(q.CPUMillis),
				corev1.ResourceRequestsMemory: memory(q.MemoryBytes),
				corev1.ResourceLimitsMemory:   memory(q.MemoryBytes),
				corev1.ResourceSecrets:        *resource.NewQuantity(int64(q.Secrets), resource.DecimalSI),
			}},
		},
		&corev1.LimitRange{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "LimitRange"},
			ObjectMeta: meta(limitRangeName, name, d.baseLabels(ns)),
			Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
				Type:           corev1.LimitTypeContainer,
				Default:        limits,
				DefaultRequest: limits,
			}}},
		},
		&networkingv1.NetworkPolicy{
			TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
			ObjectMeta: meta(networkPolicyName, name, d.baseLabels(ns)),
			Spec: networkingv1.NetworkPolicySpec{
				PodSelector: metav1.LabelSelector{},
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
				Ingress: []networkingv1.NetworkPolicyIngressRule{{
					From: []networkingv1.NetworkPolicyPeer{
						{PodSelector: &metav1.LabelSelector{}},
						{
							NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: d.opts.Gateway.Namespace}},
							PodSelector:       &metav1.LabelSelector{MatchLabels: maps.Clone(d.opts.Gateway.Labels)},
						},
					},
				}},
				Egress: d.egressRules(),
			},
		},
	}
	if pull := d.pullSecret(ns); pull != nil {
		objs = append(objs, pull)
	}
	return objs
}

// pullSecret is the image pull Secret of platform namespace ns, nil without a credential
// for it.
func (d *Driver) pullSecret(ns string) *corev1.Secret {
	if d.opts.PullCredential == nil {
		return nil
	}
	host, user, password, ok := d.opts.PullCredential(ns)
	if !ok {
		return nil
	}
	type auth struct {
		Username string `json:"username"`
		Password string `json:"password"`
		Auth     string `json:"auth"`
	}
	config, _ := json.Marshal(map[string]map[string]auth{"auths": {host: {
		Username: user, Password: password, Auth: base64.StdEncoding.EncodeToString([]byte(user + ":" + password)),
	}}})
	return &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: meta(pullSecretName, d.namespaceName(ns), d.baseLabels(ns)),
		Type:       corev1.SecretTypeDockerConfigJson,
		Data:       map[string][]byte{corev1.DockerConfigJsonKey: config},
	}
}

// egressRules are where a namespace's pods may connect: port 53 (DNS) anywhere, the mesh's
// client port (on its pods, and on Mesh.Addresses), their own namespace, and any address
// outside Options.EgressExcept.
func (d *Driver) egressRules() []networkingv1.NetworkPolicyEgressRule {
	udp, tcp := corev1.ProtocolUDP, corev1.ProtocolTCP
	dns, mesh := intstr.FromInt32(53), intstr.FromInt32(d.opts.Mesh.Port)
	var v4, v6 []string
	for _, cidr := range d.opts.EgressExcept {
		if p, err := netip.ParsePrefix(cidr); err == nil && p.Addr().Is4() {
			v4 = append(v4, p.Masked().String())
		} else if err == nil {
			v6 = append(v6, p.Masked().String())
		}
	}
	rules := []networkingv1.NetworkPolicyEgressRule{
		// DNS to any destination, not only kube-system's k8s-app=kube-dns pods: node-local
		// caches (169.254.20.10) and resolvers labelled otherwise must work too. Other
		// namespaces' pods listening on 53 still refuse it by their own ingress policy.
		{Ports: []networkingv1.NetworkPolicyPort{{Protocol: &udp, Port: &dns}, {Protocol: &tcp, Port: &dns}}},
		{
			To: []networkingv1.NetworkPolicyPeer{{
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: d.opts.Mesh.Namespace}},
				PodSelector:       &metav1.LabelSelector{MatchLabels: maps.Clone(d.opts.Mesh.Labels)},
			}},
			Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: &mesh}},
		},
		{To: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{}}}},
		{To: []networkingv1.NetworkPolicyPeer{
			{IPBlock: &networkingv1.IPBlock{CIDR: "0.0.0.0/0", Except: v4}},
			{IPBlock: &networkingv1.IPBlock{CIDR: "::/0", Except: v6}},
		}},
	}
	if len(d.opts.Mesh.Addresses) > 0 {
		var to []networkingv1.NetworkPolicyPeer
		for _, cidr := range d.opts.Mesh.Addresses {
			to = append(to, networkingv1.NetworkPolicyPeer{IPBlock: &networkingv1.IPBlock{CIDR: cidr}})
		}
		rules = append(rules, networkingv1.NetworkPolicyEgressRule{To: to, Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: &mesh}}})
	}
	return rules
}

// serviceObject is the headless Service of a platform service: its instances talk over
// the namespace's NATS transport, so the Service gives them DNS names and a selector, not
// a load-balanced port.
func (d *Driver) serviceObject(ns, service string) *corev1.Service {
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: meta(service, d.namespaceName(ns), d.serviceLabels(ns, service)),
		Spec: corev1.ServiceSpec{
			ClusterIP: corev1.ClusterIPNone,
			Selector:  map[string]string{LabelOwner: d.opts.Owner, LabelNamespace: ns, LabelService: service},
		},
	}
}

// workloadObjects are the env Secret and the Deployment of a workload.
func (d *Driver) workloadObjects(spec *runtime.WorkloadSpec) (*corev1.Secret, *appsv1.Deployment, error) {
	ns := d.namespaceName(spec.Namespace)
	secret := &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: meta(envSecretName(spec), ns, d.workloadLabels(spec)),
		Type:       corev1.SecretTypeOpaque,
		Data:       secretData(spec.Env),
	}
	stored := *spec
	stored.Env, stored.NamespaceEnv = nil, nil
	specJSON, err := json.Marshal(stored)
	if err != nil {
		return nil, nil, err
	}
	res := spec.Resources
	if res.CPUMillis <= 0 {
		res.CPUMillis = d.opts.DefaultResources.CPUMillis
	}
	if res.MemoryBytes <= 0 {
		res.MemoryBytes = d.opts.DefaultResources.MemoryBytes
	}
	limits := corev1.ResourceList{corev1.ResourceCPU: cpu(res.CPUMillis), corev1.ResourceMemory: memory(res.MemoryBytes)}
	replicas := int32(spec.Replicas)
	grace := int64(d.opts.StopGrace.Seconds())
	yes, no := true, false
	uid := int64(65532)
	maxUnavailable, maxSurge := intstr.FromInt32(0), intstr.FromInt32(1)
	labels := d.workloadLabels(spec)
	deploy := &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: meta(deploymentName(spec), ns, labels),
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{LabelOwner: d.opts.Owner, LabelRelease: spec.ID}},
			Strategy: appsv1.DeploymentStrategy{
				Type:          appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxUnavailable: &maxUnavailable, MaxSurge: &maxSurge},
			},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{
					Labels:      maps.Clone(labels),
					Annotations: map[string]string{AnnotationEnvHash: envHash(spec)},
				},
				Spec: corev1.PodSpec{
					ServiceAccountName:            serviceAccountName,
					AutomountServiceAccountToken:  &no,
					EnableServiceLinks:            &no,
					TerminationGracePeriodSeconds: &grace,
					SecurityContext: &corev1.PodSecurityContext{
						RunAsNonRoot:   &yes,
						RunAsUser:      &uid,
						RunAsGroup:     &uid,
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
					},
					Containers: []corev1.Container{{
						Name:            containerName,
						Image:           spec.Artifact,
						ImagePullPolicy: corev1.PullIfNotPresent,
						EnvFrom: []corev1.EnvFromSource{
							// The later source wins on a key both hold, as NamespaceEnv must.
							{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: envSecretName(spec)}}},
							{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: meshSecretName}}},
						},
						Env: []corev1.EnvVar{{
							Name:      envServerID,
							ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.name"}},
						}},
						Resources: corev1.ResourceRequirements{Limits: limits, Requests: limits},
						SecurityContext: &corev1.SecurityContext{
							RunAsNonRoot:             &yes,
							ReadOnlyRootFilesystem:   &yes,
							AllowPrivilegeEscalation: &no,
							Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
						},
						// The last lines of a crashed instance become its exit message.
						TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
						VolumeMounts:             []corev1.VolumeMount{{Name: "tmp", MountPath: "/tmp"}},
					}},
					Volumes: []corev1.Volume{{
						Name:         "tmp",
						VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: ptrQuantity(resource.MustParse("64Mi"))}},
					}},
				},
			},
		},
	}
	if d.pullSecret(spec.Namespace) != nil {
		deploy.Spec.Template.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: pullSecretName}}
	}
	deploy.Annotations = map[string]string{AnnotationSpec: string(specJSON)}
	return secret, deploy, nil
}

// envHash digests the environment of a workload.
func envHash(spec *runtime.WorkloadSpec) string {
	h := sha256.New()
	for _, env := range []map[string]string{spec.Env, spec.NamespaceEnv} {
		for _, k := range slices.Sorted(maps.Keys(env)) {
			h.Write([]byte(k))
			h.Write([]byte{0})
			h.Write([]byte(env[k]))
			h.Write([]byte{0})
		}
		h.Write([]byte{1})
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func secretData(env map[string]string) map[string][]byte {
	out := make(map[string][]byte, len(env))
	for k, v := range env {
		out[k] = []byte(v)
	}
	return out
}

func cpu(millis int64) resource.Quantity {
	return *resource.NewMilliQuantity(millis, resource.DecimalSI)
}

func memory(bytes int64) resource.Quantity { return *resource.NewQuantity(bytes, resource.BinarySI) }

func ptrQuantity(q resource.Quantity) *resource.Quantity { return &q }
