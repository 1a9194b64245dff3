package local

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/internal/seal"
	"github.com/micro/platform/logstore"
	"github.com/micro/platform/runtime"
	"github.com/micro/platform/runtime/local/sandbox"
)

// stateFile is what <Dir>/workloads/<id>.json holds. The spec's environment holds the
// release's secrets and the namespace's mesh credentials: it is kept sealed (Env), never
// in Spec.
type stateFile struct {
	Spec      runtime.WorkloadSpec `json:"spec"`
	Env       string               `json:"env_sealed,omitempty"`
	Instances []instanceState      `json:"instances"`
}

// sealedEnv is what stateFile.Env seals.
type sealedEnv struct {
	Env          map[string]string `json:"env,omitempty"`
	NamespaceEnv map[string]string `json:"namespace_env,omitempty"`
}

// sealSpec moves sf.Spec's environment into sf.Env, sealed.
func (d *Driver) sealSpec(sf *stateFile) {
	b, _ := json.Marshal(sealedEnv{Env: sf.Spec.Env, NamespaceEnv: sf.Spec.NamespaceEnv})
	sf.Env = d.secrets.Seal(string(b))
	sf.Spec.Env, sf.Spec.NamespaceEnv = nil, nil
}

// openSpec puts sf.Env back into sf.Spec. A state file written before sealing has its
// environment in Spec already.
func (d *Driver) openSpec(sf *stateFile) error {
	if sf.Env == "" {
		return nil
	}
	plain, err := d.secrets.Open(sf.Env)
	if err != nil {
		return fmt.Errorf("open the sealed environment (was the secret key replaced?): %w", err)
	}
	var e sealedEnv
	if err := json.Unmarshal([]byte(plain), &e); err != nil {
		return fmt.Errorf("decode the sealed environment: %w", err)
	}
	sf.Spec.Env, sf.Spec.NamespaceEnv, sf.Env = e.Env, e.NamespaceEnv, ""
	return nil
}

// instanceState is the persisted part of an instance. PID 0 means not (yet) started.
type instanceState struct {
	ID         string    `json:"id"`
	PID        int       `json:"pid,omitempty"`
	StartTicks uint64    `json:"start_ticks,omitempty"`
	StartedAt  time.Time `json:"started_at"`
	Restarts   int       `json:"restarts"`
	Stopping   bool      `json:"stopping,omitempty"` // being removed: stop, never adopt
	Addr       string    `json:"addr,omitempty"`     // in the sandbox's network
}

func (d *Driver) statePath(id string) string {
	return filepath.Join(d.opts.Dir, "workloads", id+".json")
}

// persist writes wl's state file atomically, unless wl was removed.
func (d *Driver) persist(wl *workload) error {
	wl.stateMu.Lock()
	defer wl.stateMu.Unlock()
	d.mu.Lock()
	if wl.removed {
		d.mu.Unlock()
		return nil
	}
	sf := stateFile{Spec: wl.spec}
	sf.Spec.Replicas = wl.replicas
	for _, inst := range wl.instances {
		sf.Instances = append(sf.Instances, inst.persisted(false))
	}
	for _, inst := range wl.stopping {
		sf.Instances = append(sf.Instances, inst.persisted(true))
	}
	d.mu.Unlock()
	d.sealSpec(&sf)
	b, err := json.MarshalIndent(sf, "", "  ")
	if err != nil {
		return fmt.Errorf("encode state of %s: %w", wl.spec.ID, err)
	}
	path := d.statePath(wl.spec.ID)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("write state of %s: %w", wl.spec.ID, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write state of %s: %w", wl.spec.ID, err)
	}
	return nil
}

func (inst *instance) persisted(stopping bool) instanceState {
	inst.mu.Lock()
	defer inst.mu.Unlock()
	st := instanceState{ID: inst.id, StartedAt: inst.startedAt, Restarts: inst.restarts, Stopping: stopping}
	if inst.proc != nil {
		st.PID, st.StartTicks = inst.proc.pid, inst.proc.startTicks
	}
	if inst.box.addr.IsValid() {
		st.Addr = inst.box.addr.String()
	}
	return st
}

func (d *Driver) removeState(wl *workload) error {
	wl.stateMu.Lock()
	defer wl.stateMu.Unlock()
	if err := os.Remove(d.statePath(wl.spec.ID)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove state of %s: %w", wl.spec.ID, err)
	}
	return os.RemoveAll(filepath.Join(d.opts.Dir, "run", wl.spec.ID))
}

// Recover re-adopts the instances of every workload in Dir whose process is alive,
// restarts those that died, finishes interrupted stops, and detaches the logs of
// instances that no longer exist. A state file it cannot read is renamed *.bad and
// reported. Workloads already known are left alone, so a second call changes nothing.
func (d *Driver) Recover(ctx context.Context) error {
	paths, err := filepath.Glob(filepath.Join(d.opts.Dir, "workloads", "*.json"))
	if err != nil {
		return fmt.Errorf("recover: %w", err)
	}
	var states []stateFile
	var errs []error
	for _, path := range paths {
		var sf stateFile
		b, err := os.ReadFile(path)
		if err == nil {
			err = json.Unmarshal(b, &sf)
		}
		if err == nil {
			err = d.openSpec(&sf)
		}
		if err == nil && sf.Spec.ID+".json" != filepath.Base(path) {
			err = errors.New("spec id does not match the file name")
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("recover %s: %w", path, err))
			_ = os.Rename(path, path+".bad")
			continue
		}
		states = append(states, sf)
	}
	live := d.findLive(states)
	d.reserveAddrs(states, live)
	known := map[logstore.Key]bool{}
	for _, sf := range states {
		for _, is := range sf.Instances {
			known[logstore.Key{Namespace: sf.Spec.Namespace, Service: sf.Spec.Service, Instance: is.ID}] = true
		}
		if err := d.recoverWorkload(ctx, sf, live); err != nil {
			errs = append(errs, err)
		}
	}
	ids := map[string]bool{}
	for k := range known {
		ids[k.Instance] = true
	}
	d.sweepCgroups(ids)
	for _, k := range d.logs.Attached() {
		if !known[k] {
			errs = append(errs, d.logs.Detach(k))
		}
	}
	return errors.Join(errs...)
}

// findLive returns the live process of every persisted instance, by instance ID: by its
// recorded PID and start time, else by its MICRO_SERVER_ID among group leaders.
func (d *Driver) findLive(states []stateFile) map[string]procStatPID {
	live := map[string]procStatPID{}
	missing := map[string][]string{} // instance ID → its possible executables
	for _, sf := range states {
		for _, is := range sf.Instances {
			if alive(is.PID, is.StartTicks) {
				live[is.ID] = procStatPID{pid: is.PID, startTicks: is.StartTicks}
			} else {
				artifact := sf.Spec.Artifact
				if real, err := filepath.EvalSymlinks(artifact); err == nil {
					artifact = real // /proc/<pid>/exe names the resolved file
				}
				missing[is.ID] = []string{artifact, sandbox.AppDir + "/" + sf.Spec.Service}
			}
		}
	}
	for id, p := range findLeaders(missing) {
		d.opts.Logger.Info("found unrecorded instance process", "instance", id, "pid", p.pid)
		live[id] = p
	}
	return live
}

func (d *Driver) recoverWorkload(ctx context.Context, sf stateFile, live map[string]procStatPID) error {
	d.mu.Lock()
	if _, ok := d.workloads[sf.Spec.ID]; ok || d.closed {
		d.mu.Unlock()
		return nil
	}
	wl := &workload{spec: sf.Spec, replicas: sf.Spec.Replicas}
	d.workloads[sf.Spec.ID] = wl
	var adopted, restart, stop []*instance
	now := d.opts.Clock.Now()
	for _, is := range sf.Instances {
		inst := newInstance(wl, is.ID, is.StartedAt)
		inst.restarts = is.Restarts
		if p, ok := live[is.ID]; ok {
			inst.proc = adopt(d.ctx, p.pid, p.startTicks)
			inst.state = platform.InstanceRunning
			d.readopt(inst, is.Addr)
		} else if is.PID != 0 {
			inst.state, inst.exitCode, inst.startedAt = platform.InstanceBackoff, -1, now
			inst.message = "exited while the platform was down"
		}
		switch {
		case is.Stopping:
			wl.stopping = append(wl.stopping, inst)
			stop = append(stop, inst)
		case inst.proc != nil:
			wl.instances = append(wl.instances, inst)
			adopted = append(adopted, inst)
		default:
			wl.instances = append(wl.instances, inst)
			restart = append(restart, inst)
		}
	}
	added, removed := d.converge(wl)
	d.mu.Unlock()

	for _, inst := range adopted {
		d.opts.Logger.Info("re-adopted instance", "workload", sf.Spec.ID, "instance", inst.id, "pid", inst.proc.pid)
		d.supervise(inst, inst.proc)
	}
	for _, inst := range append(restart, added...) {
		if inst.state == platform.InstanceBackoff {
			d.emit(runtime.EventExited, inst, -1, inst.message)
		}
		d.supervise(inst, nil)
	}
	for _, inst := range stop {
		if inst.proc != nil {
			d.supervise(inst, inst.proc)
			continue
		}
		inst.state = platform.InstanceStopped // nothing to stop
		close(inst.done)
	}
	if err := d.persist(wl); err != nil {
		return err
	}
	return d.stopInstances(ctx, wl, append(stop, removed...), d.opts.StopGrace)
}

// ownSecrets returns a Box whose key is kept in path (made on first use, mode 0600).
func ownSecrets(path string) (*seal.Box, error) {
	key, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		if err := os.WriteFile(path, key, 0o600); err != nil {
			return nil, fmt.Errorf("write %s: %w", path, err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return seal.New(key, "runtime-env")
}
