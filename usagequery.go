package platform

import "time"

// UsageQuery selects the usage ControlPlane.Usage returns: always of the caller's
// organisation, and of the namespaces the caller's token reaches. Empty fields select
// everything.
type UsageQuery struct {
	Namespace string `json:"namespace,omitempty"`
	Service   string `json:"service,omitempty"`
	Region    string `json:"region,omitempty"`
	// Meter is one of Meters, or "" for all.
	Meter Meter `json:"meter,omitempty"`
	// From and To bound the window: the hours that start in [From, To). A zero To is
	// now; a zero From is the start of the billing period that To's last instant is in
	// (the current period by default). The window is at most MaxUsageWindow.
	From time.Time `json:"from,omitzero"`
	To   time.Time `json:"to,omitzero"`
	// Hourly returns the hourly rollups as they are stored; otherwise the rollups of
	// the window are summed per namespace, service, region and meter, and each sum's
	// Hour is the window's start.
	Hourly bool `json:"hourly,omitempty"`
}

// MaxUsageWindow bounds how long a window UsageQuery may ask for: a year, leap day
// included.
const MaxUsageWindow = 366 * 24 * time.Hour
