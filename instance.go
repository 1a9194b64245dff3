package platform

import (
	"context"
	"time"
)

// InstanceState is the state of one running copy of a release.
type InstanceState string

// Instance states.
const (
	InstanceStarting  InstanceState = "starting"
	InstanceRunning   InstanceState = "running"
	InstanceBackoff   InstanceState = "backoff"   // exited; waiting to restart
	InstanceCrashLoop InstanceState = "crashloop" // restarted too often in a short time
	InstanceExited    InstanceState = "exited"
	InstanceStopped   InstanceState = "stopped"
)

// Instance is one running copy of a release, as last observed from the runtime driver.
type Instance struct {
	ID        string        `json:"id"`
	Region    string        `json:"region,omitempty"`
	Namespace string        `json:"namespace"`
	Service   string        `json:"service"`
	ReleaseID string        `json:"release_id"`
	Version   string        `json:"version"`
	State     InstanceState `json:"state"`
	Restarts  int           `json:"restarts"`
	ExitCode  int           `json:"exit_code,omitempty"`
	Message   string        `json:"message,omitempty"`
	// Registered is true once the instance is in its namespace's registry.
	Registered  bool      `json:"registered"`
	StartedAt   time.Time `json:"started_at"`
	CPUPercent  float64   `json:"cpu_percent"`
	MemoryBytes uint64    `json:"memory_bytes"`
}

// InstanceStore keeps the last observed instances of every service.
type InstanceStore interface {
	// ReplaceInstances sets the instances of a service in one region to exactly list
	// (each Instance.Region is set to region); other regions' instances stay.
	ReplaceInstances(ctx context.Context, namespace, service, region string, list []*Instance) error
	// ListInstances returns a service's instances, of every region, ordered by region then
	// ID; with service "" those of the namespace.
	ListInstances(ctx context.Context, namespace, service string) ([]*Instance, error)
}
