#!/usr/bin/env bash
# scripts/real-k8s/down.sh [--purge] — stops what up.sh started and only that: deletes the pods
# (so the kubelet tears down their sandboxes and CNI), stops kube-router, kube-proxy (and removes
# its iptables rules), the kubelet, controller-manager, scheduler, apiserver and etcd by their
# recorded PIDs, removes any k8s.io containers left with ctr, stops containerd by PID, removes
# the KUBE-* iptables chains (kube-router's KUBE-ROUTER-*, KUBE-POD-FW-*, KUBE-NWPLCY-* among
# them) and kube-router's ipsets, the kubelet's empty cgroups, cni0 and the node IP, restores
# ip_forward and /etc/containerd/config.toml. Idempotent.
# --purge also deletes $RUN (PKI, etcd data, logs), the imported images and /var/lib/kubelet
# (when up.sh created it).
set -uo pipefail
CACHE=${PLATFORM_TEST_CACHE:-$HOME/.cache/micro-platform-test}
RUN=${RUN:-$CACHE/real-k8s}
BIN=${K8S_BIN:-$CACHE/k8s}
PIDS=$RUN/pids
NODE_IP=$(cat "$RUN/node-ip" 2>/dev/null || echo 10.250.0.1)
K="$BIN/kubectl --kubeconfig $RUN/pki/admin.kubeconfig --request-timeout=10s"
log() { printf '[real-k8s down] %s\n' "$*" >&2; }
# A recorded pid counts only if it is alive and its argv[0] is the component (guards pid reuse).
running() {
	local p a0; p=$(cat "$PIDS/$1" 2>/dev/null) && [ -n "$p" ] && kill -0 "$p" 2>/dev/null || return 1
	a0=$(tr '\0' '\n' <"/proc/$p/cmdline" 2>/dev/null | head -1); [ "${a0##*/}" = "$1" ]
}
stop_pid() {
	running "$1" || { rm -f "$PIDS/$1"; return 0; }
	local p; p=$(cat "$PIDS/$1")
	if kill -0 "$p" 2>/dev/null; then
		log "stopping $1 (pid $p)"
		kill "$p" 2>/dev/null
		for _ in $(seq 40); do kill -0 "$p" 2>/dev/null || break; sleep 0.5; done
		running "$1" && kill -9 "$p" 2>/dev/null
	fi
	rm -f "$PIDS/$1"
}
CTR="ctr --address /run/containerd/containerd.sock -n k8s.io"
if running kube-apiserver && running kubelet; then
	log "deleting workloads and pods"
	for ns in $($K get ns -o jsonpath='{.items[*].metadata.name}'); do
		$K -n "$ns" delete deployments,replicasets,daemonsets,statefulsets,jobs --all --wait=false >/dev/null 2>&1
		$K -n "$ns" delete pods --all --grace-period=5 --wait=false >/dev/null 2>&1
	done
	for _ in $(seq 60); do
		[ -z "$($K get pods -A -o name 2>/dev/null)" ] && running_tasks=$($CTR tasks ls -q 2>/dev/null | wc -l) && [ "$running_tasks" = 0 ] && break
		sleep 1
	done
fi
# kube-router leaves its rules in place when it stops (pods stay confined until they are
# gone); they go below with the other KUBE-* chains. Its `--cleanup-config` is not used: in v2.1.0 it runs the policy controller's cleanup on an empty
# controller (no iptables or ipset handlers: it removes nothing) and the service proxy's, which
# flushes every IPVS service on the machine, ours or not. The KUBE-* chains and the KUBE-SRC-*,
# KUBE-DST-* ipsets are removed below instead.
stop_pid kube-router
stop_pid kube-proxy
if [ -f "$RUN/kube-proxy.yaml" ] && [ -x "$BIN/kube-proxy" ]; then
	log "kube-proxy --cleanup (removes its iptables rules)"
	"$BIN/kube-proxy" --cleanup --v=0 >/dev/null 2>&1 || true # errors only about ipset/IPVS
fi
stop_pid kubelet
stop_pid cluster-dns
stop_pid socat
stop_pid kube-controller-manager
stop_pid kube-scheduler
stop_pid kube-apiserver
stop_pid etcd
if running containerd; then
	for id in $($CTR tasks ls -q 2>/dev/null); do
		log "killing leftover task $id"
		$CTR tasks kill -s SIGKILL "$id" >/dev/null 2>&1; sleep 0.5
		$CTR tasks delete -f "$id" >/dev/null 2>&1
	done
	for id in $($CTR containers ls -q 2>/dev/null); do $CTR containers delete "$id" >/dev/null 2>&1; done
	[ "${1:-}" = --purge ] && $CTR images ls -q | xargs -r $CTR images rm >/dev/null 2>&1
	stop_pid containerd
fi
# Leftover network namespaces of sandboxes not stopped through CRI.
for ns in /var/run/netns/cni-*; do [ -e "$ns" ] && { umount "$ns" 2>/dev/null; rm -f "$ns"; }; done
grep -E ' (/var/lib/kubelet|/run/containerd)[^ ]*' /proc/mounts | awk '{print $2}' | sort -r |
	while read -r m; do umount "$m" 2>/dev/null; done
# iptables leftovers: kubelet makes KUBE-FIREWALL (drops non-127 sources to 127/8) and canary
# chains; kube-proxy --cleanup leaves KUBE-PROXY-CANARY and KUBE-MARK-MASQ (and fails on the
# absent ipset binary). No KUBE-* chain existed before up.sh; remove jumps to them, then them.
for ipt in iptables ip6tables; do
	for t in mangle filter nat; do
		chains=$($ipt -t $t -S 2>/dev/null | awk '$1=="-N" && $2 ~ /^KUBE-/ {print $2}')
		[ -z "$chains" ] && continue
		$ipt -t $t -S 2>/dev/null | grep -E '^-A (INPUT|OUTPUT|FORWARD|PREROUTING|POSTROUTING) .*-j KUBE-' |
			sed 's/^-A /-D /' | while read -r rule; do eval "$ipt -t $t $rule" 2>/dev/null; done
		for c in $chains; do $ipt -t $t -F "$c" 2>/dev/null; done
		for c in $chains; do $ipt -t $t -X "$c" 2>/dev/null; done
	done
done
# kube-router's ipsets (inet6: prefixes its IPv6 sets; TMP-<16 base32> are its transient swap
# sets). Destroyed after the iptables rules that match on them are gone.
if command -v ipset >/dev/null; then
	for set in $(ipset list -n 2>/dev/null | grep -E '^(inet6:)?(KUBE-(SRC|DST)-|TMP-[A-Z2-7]{16}$)'); do
		ipset destroy "$set" 2>/dev/null || log "could not destroy ipset $set"
	done
fi
# Empty cgroups kubelet created (cgroupfs driver, cgroup v1 + the unified mount).
for d in /sys/fs/cgroup/*/kubepods; do [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null; done
ip link del cni0 2>/dev/null && log "removed cni0"
rm -rf /var/lib/cni/networks/realk8s
ip addr del "$NODE_IP/32" dev lo 2>/dev/null && log "removed $NODE_IP from lo"
[ -f "$RUN/ip_forward.orig" ] && cat "$RUN/ip_forward.orig" >/proc/sys/net/ipv4/ip_forward && rm -f "$RUN/ip_forward.orig"
[ -f /etc/containerd/config.toml.dpkg-orig ] && mv /etc/containerd/config.toml.dpkg-orig /etc/containerd/config.toml
rm -f /etc/cni/net.d/10-realk8s.conflist
if [ "${1:-}" = --purge ]; then
	log "purging $RUN and kubelet state"
	rm -rf "$RUN" /var/log/pods /var/log/containers
	[ -f /var/lib/kubelet/.created-by-realk8s ] && rm -rf /var/lib/kubelet
fi
log "done"
