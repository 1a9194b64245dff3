#!/usr/bin/env bash
# scripts/real-k8s/up.sh — a real single-node Kubernetes v1.32 on this machine, idempotent: etcd,
# kube-apiserver, kube-scheduler, kube-controller-manager, containerd 1.6 + runc (Debian
# packages), the bridge CNI, a kubelet, kube-proxy and kube-router's NetworkPolicy controller
# (built from the Go module proxy by scripts/build-k8s --node). Debian bookworm, cgroup v1 or
# v2, run as root, no internet needed. Re-running starts only what is not running; it waits for
# the Node to be Ready and for kube-router's first sync.
#
#   scripts/real-k8s/up.sh            # install, build, configure, start, wait for Ready
#   scripts/real-k8s/down.sh [--purge] # stop what up.sh started, clean up
#   export KUBECONFIG=$RUN/pki/admin.kubeconfig
#
# RUN defaults to ${PLATFORM_TEST_CACHE:-~/.cache/micro-platform-test}/real-k8s (PKI, etcd data,
# logs, pids). Addresses created here (nothing else is contacted): $NODE_IP/32 on lo (the node
# IP: this kernel has no dummy links, and a kubelet refuses a 127.x node IP; kubelet :10250),
# bridge cni0 10.244.0.1/24 (pods, made by the CNI bridge plugin), service range
# 10.96.0.0/24 (kube-proxy, iptables mode). etcd 127.0.0.1:12379/12380, apiserver
# https://127.0.0.1:16443. Pods route to the service range and to the node IP only (no
# default route): what they may reach is the node's business, and NetworkPolicies'.
#
# NetworkPolicies: the bridge CNI enforces none, so kube-router runs with only its firewall
# (--run-firewall; no --run-router, no --run-service-proxy): iptables chains KUBE-ROUTER-*,
# KUBE-POD-FW-*, KUBE-NWPLCY-* in the filter table and ipsets KUBE-SRC-*/KUBE-DST-* (Debian's
# ipset). sigs.k8s.io/kube-network-policies would need the kernel's nft queue (CONFIG_NFT_QUEUE),
# which these machines lack. Advisory GHSA-phqm-jgc3-qf8g (kube-router) concerns the service
# proxy's handling of Services' externalIPs; the proxy is not run here (kube-proxy serves
# Services), so the advisory does not apply. KUBE_ROUTER=0 leaves NetworkPolicies unenforced.
#
# Quirks of these machines: no CAP_SYS_RESOURCE → containerd's restrict_oom_score_adj; no
# registry reachable → the pause image is built here (internal/realk8s); images the
# platform builds are pulled by containerd from its registry on 127.0.0.1 over plain HTTP
# (containerd's default for loopback hosts), or from $NODE_IP:$TEST_REGISTRY_PORT, the port
# reserved for a test's registry that pods reach too (plain HTTP by a mirror entry of
# containerd's config: adding it restarted containerd once). Cluster DNS: internal/realk8s/dns
# on $NODE_IP:53 (the kubelet's clusterDNS) answers Service names under cluster.local from the
# API server; adding clusterDNS restarted the kubelet once (pods keep running).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd -P)
ROOT=$(cd "$HERE/../.." && pwd -P)
CACHE=${PLATFORM_TEST_CACHE:-$HOME/.cache/micro-platform-test}
RUN=${RUN:-$CACHE/real-k8s}
BIN=${K8S_BIN:-$CACHE/k8s}
PKI=$RUN/pki LOGS=$RUN/logs PIDS=$RUN/pids
NODE=${NODE_NAME:-realk8s}
NODE_IP=${NODE_IP:-10.250.0.1}
POD_CIDR=10.244.0.0/24
SVC_CIDR=10.96.0.0/24
ETCD_PORT=12379 APISERVER_PORT=16443
PAUSE_IMAGE=localhost/pause:3.10
PROBE_IMAGE=localhost/probe:1
TEST_REGISTRY_PORT=5000
T0=$(date +%s)
log() { printf '[real-k8s up %3ds] %s\n' "$(( $(date +%s) - T0 ))" "$*" >&2; }
mkdir -p "$PKI" "$LOGS" "$PIDS"
echo "$NODE_IP" >"$RUN/node-ip"

# ---------------------------------------------------------------- packages
pkgs="containerd runc containernetworking-plugins iptables conntrack ipset socat"
if ! dpkg -s $pkgs >/dev/null 2>&1; then
	log "apt-get install $pkgs"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $pkgs >/dev/null
fi

# ---------------------------------------------------------------- binaries
"$ROOT/scripts/build-k8s" "$BIN" --node
KUBECTL="$BIN/kubectl --kubeconfig $PKI/admin.kubeconfig"

# ---------------------------------------------------------------- the pause image
IMG=$RUN/images
if [ ! -f "$IMG/pause.tar" ]; then
	log "building the pause image"
	mkdir -p "$IMG"
	(cd "$ROOT" && export GOFLAGS=-mod=mod CGO_ENABLED=0 &&
		go build -o "$IMG/mkimage" ./internal/realk8s/mkimage &&
		go build -trimpath -ldflags='-s -w' -o "$IMG/pause" ./internal/realk8s/pause &&
		"$IMG/mkimage" "$IMG/pause" "$PAUSE_IMAGE" "$IMG/pause.tar.tmp" 65535 &&
		mv "$IMG/pause.tar.tmp" "$IMG/pause.tar")
fi
# The probe image (internal/realk8s/probe) for tests of NetworkPolicies. Built every time (a
# few seconds from the build cache); the build (-trimpath, no VCS stamp) and mkimage's output
# are reproducible, so probe.tar changes, and is imported again below, only when the program
# does.
(cd "$ROOT" && export GOFLAGS=-mod=mod CGO_ENABLED=0 &&
	go build -o "$IMG/mkimage" ./internal/realk8s/mkimage &&
	go build -trimpath -buildvcs=false -ldflags='-s -w' -o "$IMG/probe" ./internal/realk8s/probe &&
	"$IMG/mkimage" "$IMG/probe" "$PROBE_IMAGE" "$IMG/probe.tar.tmp" 65532)
if cmp -s "$IMG/probe.tar.tmp" "$IMG/probe.tar"; then rm "$IMG/probe.tar.tmp"
else mv "$IMG/probe.tar.tmp" "$IMG/probe.tar" && rm -f "$IMG/probe.imported"; fi

# ---------------------------------------------------------------- PKI + kubeconfigs
cert() { # name CN O [SAN]
	local n=$1 cn=$2 o=$3 san=${4:-}
	[ -f "$PKI/$n.crt" ] && return 0
	openssl genrsa -out "$PKI/$n.key" 2048 2>/dev/null
	local subj="/CN=$cn"; [ -n "$o" ] && subj="/O=$o/CN=$cn"
	openssl req -new -key "$PKI/$n.key" -subj "$subj" -out "$PKI/$n.csr" 2>/dev/null
	{
		echo "basicConstraints=CA:FALSE"
		echo "keyUsage=critical,digitalSignature,keyEncipherment"
		if [ -n "$san" ]; then echo "extendedKeyUsage=serverAuth"; echo "subjectAltName=$san"
		else echo "extendedKeyUsage=clientAuth"; fi
	} >"$PKI/$n.ext"
	openssl x509 -req -in "$PKI/$n.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
		-days 3650 -extfile "$PKI/$n.ext" -out "$PKI/$n.crt" 2>/dev/null
}
kubeconfig() { # name cert
	local f=$PKI/$1.kubeconfig
	[ -f "$f" ] && return 0
	$BIN/kubectl config set-cluster realk8s --server=https://127.0.0.1:$APISERVER_PORT \
		--certificate-authority="$PKI/ca.crt" --embed-certs --kubeconfig="$f" >/dev/null
	$BIN/kubectl config set-credentials u --client-certificate="$PKI/$2.crt" \
		--client-key="$PKI/$2.key" --embed-certs --kubeconfig="$f" >/dev/null
	$BIN/kubectl config set-context default --cluster=realk8s --user=u --kubeconfig="$f" >/dev/null
	$BIN/kubectl config use-context default --kubeconfig="$f" >/dev/null
}
if [ ! -f "$PKI/ca.crt" ]; then
	log "creating PKI in $PKI"
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$PKI/ca.key" -out "$PKI/ca.crt" \
		-days 3650 -subj /CN=realk8s-ca 2>/dev/null
	openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
	openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
fi
cert apiserver kube-apiserver "" "IP:127.0.0.1,IP:$NODE_IP,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters
cert admin kubernetes-admin system:masters
cert kubelet "system:node:$NODE" system:nodes
cert scheduler system:kube-scheduler ""
cert controller-manager system:kube-controller-manager ""
cert kube-proxy system:kube-proxy ""
cert kube-router system:kube-router ""
kubeconfig admin admin
kubeconfig kubelet kubelet
kubeconfig scheduler scheduler
kubeconfig controller-manager controller-manager
kubeconfig kube-proxy kube-proxy
kubeconfig kube-router kube-router

# ---------------------------------------------------------------- process helpers
# A recorded pid counts only if it is alive and its argv[0] is the component (guards pid reuse).
running() {
	local p a0; p=$(cat "$PIDS/$1" 2>/dev/null) && [ -n "$p" ] && kill -0 "$p" 2>/dev/null || return 1
	a0=$(tr '\0' '\n' <"/proc/$p/cmdline" 2>/dev/null | head -1); [ "${a0##*/}" = "$1" ]
}
start() { # name cmd...
	local n=$1; shift
	if running "$n"; then log "$n already running (pid $(cat "$PIDS/$n"))"; return 0; fi
	log "starting $n"
	setsid nohup "$@" >>"$LOGS/$n.log" 2>&1 </dev/null &
	echo $! >"$PIDS/$n"
}
stop_pid() { # name: SIGTERM the recorded pid, wait up to 20s, then SIGKILL
	running "$1" || { rm -f "$PIDS/$1"; return 0; }
	local p; p=$(cat "$PIDS/$1")
	kill "$p" 2>/dev/null || true
	for _ in $(seq 40); do kill -0 "$p" 2>/dev/null || break; sleep 0.5; done
	running "$1" && kill -9 "$p" 2>/dev/null || true
	rm -f "$PIDS/$1"
}
wait_for() { # description timeout cmd...
	local d=$1 t=$2; shift 2
	for _ in $(seq "$t"); do "$@" >/dev/null 2>&1 && return 0; sleep 1; done
	log "timed out waiting for $d"; return 1
}

# ---------------------------------------------------------------- host network: node IP
# The kernel has no dummy link type; the node IP goes on lo (kubelet refuses 127.x as node IP).
# (Outputs are captured before grep -q: with pipefail, `cmd | grep -q` fails when grep's early
# exit kills cmd with SIGPIPE, and up.sh then re-added an address lo already had.)
if ! grep -q "inet $NODE_IP/32" <<<"$(ip addr show dev lo)"; then
	log "adding node IP $NODE_IP/32 to lo"
	ip addr add "$NODE_IP/32" dev lo
fi
[ -f "$RUN/ip_forward.orig" ] || cat /proc/sys/net/ipv4/ip_forward >"$RUN/ip_forward.orig"

# ---------------------------------------------------------------- etcd + apiserver
start etcd "$BIN/etcd" --name realk8s --data-dir "$RUN/etcd" \
	--listen-client-urls http://127.0.0.1:$ETCD_PORT --advertise-client-urls http://127.0.0.1:$ETCD_PORT \
	--listen-peer-urls http://127.0.0.1:12380 --initial-advertise-peer-urls http://127.0.0.1:12380 \
	--initial-cluster realk8s=http://127.0.0.1:12380 --log-level warn
wait_for etcd 30 curl -sf http://127.0.0.1:$ETCD_PORT/health
start kube-apiserver "$BIN/kube-apiserver" --etcd-servers=http://127.0.0.1:$ETCD_PORT \
	--bind-address=127.0.0.1 --secure-port=$APISERVER_PORT --advertise-address=$NODE_IP \
	--tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
	--client-ca-file="$PKI/ca.crt" \
	--service-account-issuer=https://kubernetes.default.svc.cluster.local \
	--service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
	--service-cluster-ip-range=$SVC_CIDR --authorization-mode=Node,RBAC \
	--enable-admission-plugins=NodeRestriction --allow-privileged=true \
	--kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt" \
	--kubelet-client-key="$PKI/apiserver-kubelet-client.key" \
	--kubelet-preferred-address-types=InternalIP --v=1
wait_for kube-apiserver 90 $KUBECTL get --raw /readyz
# Pods reach the API server as the kubernetes Service, which kube-proxy sends to the
# advertised $NODE_IP:$APISERVER_PORT; the API server listens on loopback only, so socat
# forwards that address to it (TLS passes through; the certificate names 10.96.0.1).
start socat /usr/bin/socat TCP-LISTEN:$APISERVER_PORT,bind=$NODE_IP,reuseaddr,fork TCP:127.0.0.1:$APISERVER_PORT

# ---------------------------------------------------------------- scheduler + controller-manager
start kube-scheduler "$BIN/kube-scheduler" --kubeconfig="$PKI/scheduler.kubeconfig" \
	--authentication-kubeconfig="$PKI/scheduler.kubeconfig" --authorization-kubeconfig="$PKI/scheduler.kubeconfig" \
	--bind-address=127.0.0.1 --secure-port=10259 --leader-elect=false --v=1
start kube-controller-manager "$BIN/kube-controller-manager" --kubeconfig="$PKI/controller-manager.kubeconfig" \
	--authentication-kubeconfig="$PKI/controller-manager.kubeconfig" \
	--authorization-kubeconfig="$PKI/controller-manager.kubeconfig" \
	--bind-address=127.0.0.1 --secure-port=10257 --leader-elect=false \
	--service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" \
	--cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
	--use-service-account-credentials=true --allocate-node-cidrs=false \
	--service-cluster-ip-range=$SVC_CIDR --v=1

# ---------------------------------------------------------------- containerd + CNI
mkdir -p /etc/cni/net.d
cat >/etc/cni/net.d/10-realk8s.conflist <<EOF
{
  "cniVersion": "0.4.0",
  "name": "realk8s",
  "plugins": [
    {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "$POD_CIDR"}]],
              "routes": [{"dst": "$SVC_CIDR"}, {"dst": "$NODE_IP/32"}]}}
  ]
}
EOF
[ -f /etc/containerd/config.toml.dpkg-orig ] || cp /etc/containerd/config.toml /etc/containerd/config.toml.dpkg-orig
cat >/etc/containerd/config.toml.new <<EOF
# written by scripts/real-k8s/up.sh (original: config.toml.dpkg-orig)
version = 2
[plugins]
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "$PAUSE_IMAGE"
    # This VM's root lacks CAP_SYS_RESOURCE (not in the bounding set), so runc cannot lower
    # oom_score_adj (sandbox wants -998): "nsexec: failed to update /proc/self/oom_score_adj:
    # Permission denied". Clamp scores to containerd's own (0), as for rootless containerd.
    restrict_oom_score_adj = true
    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "overlayfs"
      default_runtime_name = "runc"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
          SystemdCgroup = false
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "/usr/lib/cni"
      conf_dir = "/etc/cni/net.d"
    # A test's registry on the node IP (e2e/install_test.go), which pods reach too: plain
    # HTTP. A legacy mirror entry rather than config_path, which would change how every
    # other host (the loopback registries included) is resolved.
    [plugins."io.containerd.grpc.v1.cri".registry.mirrors."$NODE_IP:$TEST_REGISTRY_PORT"]
      endpoint = ["http://$NODE_IP:$TEST_REGISTRY_PORT"]
  [plugins."io.containerd.internal.v1.opt"]
    path = "/var/lib/containerd/opt"
EOF
if ! cmp -s /etc/containerd/config.toml.new /etc/containerd/config.toml; then
	mv /etc/containerd/config.toml.new /etc/containerd/config.toml
	if running containerd; then
		log "containerd config changed: restarting containerd (pid $(cat "$PIDS/containerd"))"
		stop_pid containerd
	fi
else
	rm /etc/containerd/config.toml.new
fi
start containerd /usr/bin/containerd --config /etc/containerd/config.toml
wait_for containerd 30 ctr --address /run/containerd/containerd.sock version
images=$(ctr -n k8s.io images ls -q)
if ! grep -qx "$PAUSE_IMAGE" <<<"$images"; then
	log "importing $PAUSE_IMAGE"
	ctr -n k8s.io images import "$IMG/pause.tar" >/dev/null
fi
if [ ! -f "$IMG/probe.imported" ] || ! grep -qx "$PROBE_IMAGE" <<<"$images"; then
	log "importing $PROBE_IMAGE"
	ctr -n k8s.io images import "$IMG/probe.tar" >/dev/null
	touch "$IMG/probe.imported"
fi
# Keep the sandbox and probe images from kubelet image GC (pods use the probe with
# imagePullPolicy Never: there is no registry to pull it back from).
for i in "$PAUSE_IMAGE" "$PROBE_IMAGE"; do
	ctr -n k8s.io images label "$i" io.cri-containerd.pinned=pinned >/dev/null 2>&1 || true
done

# ---------------------------------------------------------------- cluster DNS
# internal/realk8s/dns answers SERVICE.NAMESPACE.svc.cluster.local (and a StatefulSet pod's
# HOSTNAME.SERVICE...) from the API server; everything else is NXDOMAIN (pods have no route
# beyond the node). Rebuilt every time like the probe; restarted only when it changed.
(cd "$ROOT" && export GOFLAGS=-mod=mod CGO_ENABLED=0 &&
	go build -trimpath -buildvcs=false -ldflags='-s -w' -o "$IMG/cluster-dns.new" ./internal/realk8s/dns)
if cmp -s "$IMG/cluster-dns.new" "$IMG/cluster-dns"; then rm "$IMG/cluster-dns.new"
else
	mv "$IMG/cluster-dns.new" "$IMG/cluster-dns"
	if running cluster-dns; then log "cluster-dns changed: restarting it"; stop_pid cluster-dns; fi
fi
start cluster-dns "$IMG/cluster-dns" -listen "$NODE_IP:53" -kubeconfig "$PKI/admin.kubeconfig"

# ---------------------------------------------------------------- kubelet
[ -d /var/lib/kubelet ] || { mkdir -p /var/lib/kubelet && touch /var/lib/kubelet/.created-by-realk8s; }
mkdir -p "$RUN/manifests"
cat >"$RUN/kubelet.yaml.new" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix:///run/containerd/containerd.sock
staticPodPath: $RUN/manifests
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: $PKI/ca.crt}
authorization:
  mode: AlwaysAllow
clusterDomain: cluster.local
clusterDNS: [$NODE_IP]
resolvConf: /etc/resolv.conf
serializeImagePulls: false
evictionHard:
  memory.available: 200Mi
  nodefs.available: 3%
  imagefs.available: 3%
imageGCHighThresholdPercent: 99
imageGCLowThresholdPercent: 98
EOF
if cmp -s "$RUN/kubelet.yaml.new" "$RUN/kubelet.yaml"; then rm "$RUN/kubelet.yaml.new"
else
	mv "$RUN/kubelet.yaml.new" "$RUN/kubelet.yaml"
	if running kubelet; then log "kubelet config changed: restarting the kubelet (pods keep running)"; stop_pid kubelet; fi
fi
start kubelet "$BIN/kubelet" --config="$RUN/kubelet.yaml" --kubeconfig="$PKI/kubelet.kubeconfig" \
	--hostname-override="$NODE" --node-ip=$NODE_IP --v=1
# ---------------------------------------------------------------- kube-proxy (iptables mode)
# Rules only match the service range and node ports on $NODE_IP; pods get a route to the service
# range via cni0 (no default route). down.sh runs kube-proxy --cleanup to remove its rules.
if [ "${KUBE_PROXY:-1}" = 1 ]; then
	# kube-proxy exits when its config file is rewritten, so only replace it when it changed.
	cat >"$RUN/kube-proxy.yaml.new" <<KPEOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $PKI/kube-proxy.kubeconfig}
hostnameOverride: $NODE
mode: iptables
clusterCIDR: $POD_CIDR
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
nodePortAddresses: ["$NODE_IP/32"]
iptables: {localhostNodePorts: false}
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
KPEOF
	cmp -s "$RUN/kube-proxy.yaml.new" "$RUN/kube-proxy.yaml" && rm "$RUN/kube-proxy.yaml.new" ||
		mv "$RUN/kube-proxy.yaml.new" "$RUN/kube-proxy.yaml"
	start kube-proxy "$BIN/kube-proxy" --config="$RUN/kube-proxy.yaml" --v=1
fi
# ---------------------------------------------------------------- kube-router: NetworkPolicies
# Only the firewall (see the header). It reads the node's InternalIP ($NODE_IP) to find the
# node's pods, and the service range, whose traffic it leaves to kube-proxy's DNAT; its
# informers list Services, Endpoints and EndpointSlices too, hence the RBAC below. No health
# or metrics listener (they would listen on every address, pods' reach included).
if [ "${KUBE_ROUTER:-1}" = 1 ]; then
	$KUBECTL apply -f - >/dev/null <<KREOF
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "system:kube-router"}
rules:
- apiGroups: [""]
  resources: [namespaces, pods, services, nodes, endpoints]
  verbs: [get, list, watch]
- apiGroups: [networking.k8s.io]
  resources: [networkpolicies]
  verbs: [get, list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "system:kube-router"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:kube-router"}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: "system:kube-router"}
KREOF
	# The node object must exist before kube-router starts (it reads the node's addresses).
	wait_for "node $NODE registered" 60 $KUBECTL get node "$NODE"
	start kube-router "$BIN/kube-router" --kubeconfig="$PKI/kube-router.kubeconfig" \
		--hostname-override="$NODE" --run-firewall=true --run-router=false --run-service-proxy=false \
		--run-loadbalancer=false --enable-cni=false --enable-ipv4=true --enable-ipv6=false \
		--service-cluster-ip-range=$SVC_CIDR --health-port=0 --metrics-port=0 \
		--iptables-sync-period=1m --v=1
	# Its first full sync ends with the ACCEPT of traffic its pod chains passed (mark 0x20000),
	# appended to each top-level chain: from then on NetworkPolicies are enforced.
	wait_for "kube-router's first sync" 60 sh -c 'iptables -t filter -S KUBE-ROUTER-FORWARD | grep -q 0x20000/0x20000'
fi
log "waiting for node $NODE to be Ready"
wait_for "node Ready" 120 $KUBECTL wait --for=condition=Ready "node/$NODE" --timeout=2s
# Pods cannot be created before the controller-manager has made the namespace's ServiceAccount.
wait_for "ServiceAccount default/default" 60 $KUBECTL -n default get serviceaccount default
$KUBECTL get nodes -o wide
log "cluster up; export KUBECONFIG=$PKI/admin.kubeconfig"
