// Package kubernetes holds the manifests that install Micro Platform itself on a
// Kubernetes cluster: a kustomize base (kustomization.yaml) with the control plane as a
// Deployment, the mesh (NATS) as a StatefulSet and the least RBAC the kubernetes runtime
// driver needs; and in agent/ a second base, a region agent (`platform agent` with the
// kubernetes runtime), which platform infra apply installs in every other region. It has
// no Go API; its tests render both bases with kubectl, compare them with
// testdata/rendered.yaml and testdata/agent-rendered.yaml and with the install templates
// of the infra modules, and apply them to a real kube-apiserver. See
// docs/deploy-kubernetes.md.
package kubernetes
