package kubernetes

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platform "github.com/micro/platform"
	"github.com/micro/platform/runtime"
)

// Logs streams a service's output from the pod log API, across all its releases' pods.
// Kubernetes keeps one stream per container, so every line is reported as stdout. Without
// Follow it sends the last q.Tail lines of all pods (0: 100; -1: all) in time order; with
// Follow each pod's tail comes first and pods started later join the stream.
func (d *Driver) Logs(ctx context.Context, q platform.LogQuery) (<-chan platform.LogEntry, error) {
	if err := platform.ValidateName("namespace", q.Namespace); err != nil {
		return nil, err
	}
	if err := platform.ValidateName("service", q.Service); err != nil {
		return nil, err
	}
	tail := q.Tail
	if tail == 0 {
		tail = 100
	}
	out := make(chan platform.LogEntry, 64)
	if !q.Follow {
		pods, err := d.servicePods(ctx, q)
		if err != nil {
			return nil, err
		}
		var all []platform.LogEntry
		for i := range pods {
			entries, err := d.podLogs(ctx, q, &pods[i], tail, false, nil)
			if err != nil {
				return nil, err
			}
			all = append(all, entries...)
		}
		slices.SortStableFunc(all, func(a, b platform.LogEntry) int { return a.Time.Compare(b.Time) })
		if tail > 0 && len(all) > tail {
			all = all[len(all)-tail:]
		}
		go func() {
			defer close(out)
			for _, e := range all {
				select {
				case out <- e:
				case <-ctx.Done():
					return
				}
			}
		}()
		return out, nil
	}
	go d.follow(ctx, q, tail, out)
	return out, nil
}

// follow streams every pod of the service until ctx ends, looking for new pods every
// second.
func (d *Driver) follow(ctx context.Context, q platform.LogQuery, tail int, out chan<- platform.LogEntry) {
	var wg sync.WaitGroup
	defer func() {
		wg.Wait()
		close(out)
	}()
	streaming := map[types.UID]bool{}
	first := true
	for {
		pods, err := d.servicePods(ctx, q)
		if err != nil && ctx.Err() == nil {
			d.opts.Logger.Warn("kubernetes driver: follow logs", "err", err)
		}
		for i := range pods {
			p := pods[i]
			if streaming[p.UID] || p.DeletionTimestamp != nil {
				continue
			}
			streaming[p.UID] = true
			n := -1 // a pod that started while following: all of it
			if first {
				n = tail
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := d.podLogs(ctx, q, &p, n, true, out); err != nil && ctx.Err() == nil {
					d.opts.Logger.Debug("kubernetes driver: pod log stream", "pod", p.Name, "err", err)
				}
			}()
		}
		first = false
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

// servicePods lists the cached pods of a service.
func (d *Driver) servicePods(ctx context.Context, q platform.LogQuery) ([]corev1.Pod, error) {
	var list corev1.PodList
	err := d.cache.List(ctx, &list, client.InNamespace(d.namespaceName(q.Namespace)),
		client.MatchingLabels{LabelNamespace: q.Namespace, LabelService: q.Service})
	if err != nil {
		return nil, fmt.Errorf("list pods: %w", err)
	}
	return list.Items, nil
}

// podLogs reads a pod's log: the last tail lines (-1: all), then, with follow, sends new
// lines to out until the stream ends. Without out it returns the lines.
func (d *Driver) podLogs(ctx context.Context, q platform.LogQuery, p *corev1.Pod, tail int, follow bool, out chan<- platform.LogEntry) ([]platform.LogEntry, error) {
	opts := &corev1.PodLogOptions{Container: containerName, Timestamps: true, Follow: follow}
	if tail >= 0 {
		n := int64(tail)
		opts.TailLines = &n
	}
	stream, err := d.core.Pods(p.Namespace).GetLogs(p.Name, opts).Stream(ctx)
	if err != nil {
		if apierrors.IsBadRequest(err) || apierrors.IsNotFound(err) {
			return nil, nil // not started yet, or gone: nothing to read
		}
		return nil, wrapAPI("logs of pod "+p.Name, err)
	}
	defer stream.Close()
	var entries []platform.LogEntry
	sc := bufio.NewScanner(stream)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		e := platform.LogEntry{Namespace: q.Namespace, Service: q.Service, InstanceID: p.Name, Stream: platform.Stdout}
		ts, line, ok := strings.Cut(sc.Text(), " ")
		t, err := time.Parse(time.RFC3339Nano, ts)
		if !ok || err != nil {
			t, line = d.opts.Clock.Now(), sc.Text()
		}
		e.Time, e.Line = t, line
		if out == nil {
			entries = append(entries, e)
			continue
		}
		select {
		case out <- e:
		case <-ctx.Done():
			return nil, nil
		}
	}
	return entries, sc.Err()
}

// podMetrics is the part of a metrics.k8s.io PodMetrics the driver reads.
type podMetrics struct {
	Metadata struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Timestamp  time.Time `json:"timestamp"`
	Containers []struct {
		Name  string `json:"name"`
		Usage struct {
			CPU    resource.Quantity `json:"cpu"`
			Memory resource.Quantity `json:"memory"`
		} `json:"usage"`
	} `json:"containers"`
}

// Stats reads the workload's pods' usage from the metrics.k8s.io API (metrics-server).
// CPUPercent is the pod's CPU use over the metrics window in percent of one core. It
// returns ENOTFOUND for an unknown workload and EUNAVAILABLE on a cluster that serves no
// metrics API.
func (d *Driver) Stats(ctx context.Context, id string) ([]runtime.InstanceStats, error) {
	spec, err := d.find(ctx, id)
	if err != nil {
		return nil, err
	}
	path := fmt.Sprintf("/apis/metrics.k8s.io/v1beta1/namespaces/%s/pods", d.namespaceName(spec.Namespace))
	raw, err := d.core.RESTClient().Get().AbsPath(path).
		Param("labelSelector", LabelOwner+"="+d.opts.Owner+","+LabelRelease+"="+id).DoRaw(ctx)
	if err != nil {
		if apierrors.IsNotFound(err) || apierrors.IsServiceUnavailable(err) {
			return nil, platform.Errorf(platform.EUNAVAILABLE, "kubernetes: the cluster serves no pod metrics (metrics.k8s.io)").
				WithHint("install metrics-server on the cluster for instance stats")
		}
		return nil, wrapAPI("pod metrics", err)
	}
	var list struct {
		Items []podMetrics `json:"items"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, platform.Errorf(platform.EUNAVAILABLE, "kubernetes: unreadable pod metrics: %v", err)
	}
	var out []runtime.InstanceStats
	for _, m := range list.Items {
		for _, c := range m.Containers {
			if c.Name != containerName {
				continue
			}
			out = append(out, runtime.InstanceStats{
				InstanceID:  m.Metadata.Name,
				CPUPercent:  float64(c.Usage.CPU.MilliValue()) / 10,
				MemoryBytes: uint64(max(c.Usage.Memory.Value(), 0)),
				Time:        m.Timestamp,
			})
		}
	}
	slices.SortFunc(out, func(a, b runtime.InstanceStats) int { return strings.Compare(a.InstanceID, b.InstanceID) })
	return out, nil
}
