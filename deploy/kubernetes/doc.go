// Package kubernetes holds the manifests that install Micro Platform itself on a
// Kubernetes cluster: a kustomize base (kustomization.yaml) with the control plane as a
// Deployment, the mesh (NATS) as a StatefulSet and the least RBAC the kubernetes runtime
// driver needs. It has no Go API; its tests render the base with kubectl, compare it with
// testdata/rendered.yaml and apply it to a real kube-apiserver. See
// docs/deploy-kubernetes.md.
package kubernetes
