// Package realk8s holds the programs scripts/real-k8s builds for the single-node cluster it
// runs on this machine: pause (the pod sandbox's process, so that containerd's sandbox image
// needs no registry), probe (a TCP/HTTP server and dialer, for tests of NetworkPolicies),
// dns (the cluster DNS: Service names from the API server) and mkimage (packs one static
// binary into an image tarball for `ctr images import`). The package itself is empty.
package realk8s
