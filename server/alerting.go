package server

import (
	"net"

	"github.com/micro/platform/alerting"
	"github.com/micro/platform/alerting/notify"
	"github.com/micro/platform/internal/seal"
)

// newAlerts builds the alert engine: it reads the store's event log and usage, and
// delivers through notify's senders, opening channel secrets with box (the control plane
// seals them with it). Run gives it the address its dashboard links start with.
func (a *App) newAlerts(box *seal.Box) *alerting.Engine {
	cfg := a.cfg.Alerting
	return alerting.New(alerting.Options{
		Store:       a.store,
		Senders:     notify.Senders(notify.Options{AllowPrivate: cfg.AllowPrivateNetworks}),
		Open:        box.Open,
		Logger:      a.logger.With("component", "alerting"),
		MaxAttempts: cfg.MaxAttempts,
		Settle:      cfg.CrashLoopSettle,
	})
}

// linkBase is the address links to the dashboard start with: public_url, else the
// address the API listens on (once it does), with a host a browser on this machine can
// use.
func (a *App) linkBase() string {
	if a.cfg.PublicURL != "" {
		return a.cfg.PublicURL
	}
	host, port, err := net.SplitHostPort(a.api.Addr())
	if err != nil || port == "0" {
		return ""
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}
