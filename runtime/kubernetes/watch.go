package kubernetes

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platform "github.com/micro/platform"
)

// startWatches starts the informers of every owned type and of pods, and the worker that
// restores owned objects changed by hand.
func (d *Driver) startWatches(ctx context.Context) error {
	restore := toolscache.ResourceEventHandlerFuncs{
		UpdateFunc: func(_, obj any) { d.enqueue(obj) },
		DeleteFunc: func(obj any) { d.enqueue(obj) },
	}
	for _, obj := range ownedTypes {
		inf, err := d.cache.GetInformer(ctx, obj)
		if err != nil {
			return fmt.Errorf("kubernetes driver: watch %T: %w", obj, err)
		}
		if _, err := inf.AddEventHandler(restore); err != nil {
			return fmt.Errorf("kubernetes driver: watch %T: %w", obj, err)
		}
	}
	deploys, err := d.cache.GetInformer(ctx, &appsv1.Deployment{})
	if err != nil {
		return fmt.Errorf("kubernetes driver: watch deployments: %w", err)
	}
	_, err = deploys.AddEventHandler(toolscache.ResourceEventHandlerDetailedFuncs{
		AddFunc: func(obj any, initial bool) {
			if dep, ok := obj.(*appsv1.Deployment); ok {
				d.observeDeployment(dep, !initial)
			}
		},
		UpdateFunc: func(_, obj any) {
			if dep, ok := obj.(*appsv1.Deployment); ok {
				d.observeDeployment(dep, true)
			}
		},
		DeleteFunc: func(obj any) {
			if t, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if dep, ok := obj.(*appsv1.Deployment); ok {
				d.mu.Lock()
				delete(d.failures, dep.UID)
				d.mu.Unlock()
			}
		},
	})
	if err != nil {
		return fmt.Errorf("kubernetes driver: watch deployments: %w", err)
	}
	pods, err := d.cache.GetInformer(ctx, &corev1.Pod{})
	if err != nil {
		return fmt.Errorf("kubernetes driver: watch pods: %w", err)
	}
	_, err = pods.AddEventHandler(toolscache.ResourceEventHandlerDetailedFuncs{
		AddFunc: func(obj any, initial bool) {
			if p, ok := obj.(*corev1.Pod); ok {
				d.observePod(p, !initial)
			}
		},
		UpdateFunc: func(_, obj any) {
			if p, ok := obj.(*corev1.Pod); ok {
				d.observePod(p, true)
			}
		},
		DeleteFunc: func(obj any) {
			if t, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if p, ok := obj.(*corev1.Pod); ok {
				d.podGone(p)
			}
		},
	})
	if err != nil {
		return fmt.Errorf("kubernetes driver: watch pods: %w", err)
	}
	d.wg.Add(2)
	go func() {
		defer d.wg.Done()
		if err := d.cache.Start(d.ctx); err != nil {
			d.opts.Logger.Error("kubernetes driver: cache stopped", "err", err)
		}
	}()
	go func() {
		defer d.wg.Done()
		d.restoreLoop()
	}()
	return nil
}

// waitSynced waits until the cache holds every owned object of the cluster.
func (d *Driver) waitSynced(ctx context.Context) error {
	syncCtx, cancel := context.WithTimeout(ctx, d.opts.SyncTimeout)
	defer cancel()
	if !d.cache.WaitForCacheSync(syncCtx) {
		return platform.Errorf(platform.EUNAVAILABLE, "kubernetes driver: the cluster's objects did not load before the deadline (at most %v)", d.opts.SyncTimeout).
			WithHint("check that the API server is reachable and the platform may list and watch namespaces, pods, secrets, services, deployments and network policies")
	}
	return nil
}

// enqueue queues the platform namespace of an owned object that changed.
func (d *Driver) enqueue(obj any) {
	if t, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	o, ok := obj.(client.Object)
	if !ok {
		return
	}
	if ns := o.GetLabels()[LabelNamespace]; ns != "" {
		d.queue.Add(ns)
	}
}

// restoreLoop converges each queued namespace to what the driver wants of it, so an owned
// object edited or deleted by hand comes back. Converging an unchanged namespace makes no
// request, so the events of the driver's own writes cost nothing.
func (d *Driver) restoreLoop() {
	for {
		ns, shutdown := d.queue.Get()
		if shutdown {
			return
		}
		err := d.restore(d.ctx, ns)
		if err != nil && d.ctx.Err() == nil {
			d.opts.Logger.Warn("kubernetes driver: restore namespace", "namespace", ns, "err", err)
			d.queue.AddRateLimited(ns)
		} else {
			d.queue.Forget(ns)
		}
		d.queue.Done(ns)
	}
}

// restore applies every desired workload of platform namespace ns.
func (d *Driver) restore(ctx context.Context, ns string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	unlock := d.lockNamespace(ns)
	defer unlock()
	for _, spec := range d.desired(ns, "") {
		if err := d.applyWorkload(ctx, spec); err != nil {
			return err
		}
	}
	return nil
}
