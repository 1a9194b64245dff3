// Package alerting turns what happens on the platform into alerts and delivers their
// notifications: an Engine reads the event log and the usage store, keeps one alert per
// group (namespace, rule, service), and sends each routed channel one notification when
// an alert fires, a repeat every RepeatInterval while it fires and one when it resolves,
// through the senders of package alerting/notify.
//
// # Built-in rules
//
// Built-in rules are on in every namespace as implicit rules with fixed IDs
// ("builtin:crash_loop", …; platform.BuiltinRule). An organisation's rule of a built-in
// kind replaces the built-in where it applies (its namespace and service): with its own
// severity and repeat interval, or, Disabled, turning it off there. Each fires on a
// failing event and resolves on the recovering one:
//
//	rule            fires on             resolves on                              group by
//	build_failed    build.failed         build.succeeded                          service
//	release_failed  release.failed (not  release.rolled_out                       service
//	                of a failed build)
//	crash_loop      instance.crashloop   instance.started or release.rolled_out,  service
//	                                     once no instance.crashed (of the serving
//	                                     release) or crashloop followed for
//	                                     Options.Settle (1 min)
//	service_down    service.unplaced     instance.started, release.rolled_out,    service
//	                                     region.returned (in its namespace)
//	region_lost     region.lost          region.returned                          region
//	spend_limit     billing.spend_threshold
//	                                     the end of its billing period (the       organisation
//	                                     calendar month, UTC, of the event)
//	(every rule)    -                    service.deleted (the service's alerts)   -
//
// The control plane publishes billing.spend_threshold in every namespace of the
// organisation, once each time a period's spend crosses 75, 90 and 100 % of its plan's
// spend limit; so, like every built-in, spend_limit keeps one alert per namespace (its
// subject is the organisation). Each threshold fires it, a firing one again: at 75 and
// 90 % with the rule's severity (warning for the built-in), at 100 % (deploys refused,
// previews scaled to zero) critical. Nothing in the period says the spend went down, so
// it resolves on the first tick after the period ends; a plan change that lifts the
// limit mid-period leaves it firing until then.
//
// A crash-looping instance keeps being restarted with a long backoff, and each restart
// is an instance.started: resolving crash_loop on it at once would clear an alert whose
// cause is still there, so a start only begins clearing (Alert.ClearingSince) and a
// crash within the settle time ends that.
//
// # Metric rules
//
// Every Options.MetricInterval (15 s) each enabled metric rule is evaluated per service
// over its window of whole minutes before the current one (RequestUsage for error_rate,
// p99_latency and request_rate; ResourceUsage for cpu and memory). While the condition
// holds the alert is pending, and fires once it has held for the rule's For; it resolves
// when the condition no longer holds (a pending alert resolves without a notification).
// A service without data has no error rate, latency, CPU or memory, so those conditions
// do not hold; its request rate is 0.
//
// # Alert states
//
//	(none) ──► pending ──► firing ──► resolved ──► pending/firing (a new incident, same alert)
//
// Notifications are enqueued with the state change that makes them, to every channel of
// the alert's organisation whose routing takes it (platform.AlertChannel.Routes); one
// that an active silence matches is recorded as silenced and never sent.
//
// # Delivery
//
// The dispatcher claims due notifications from the outbox under a lease
// (AlertStore.ClaimNotifications) and hands each to its channel's worker: one goroutine
// per channel, so that a slow or failing channel never delays another. A worker waits
// for the channel's rate limiter, opens the channel's sealed secret, sends, and records
// the outcome: sent; dead at once for an error notify.Permanent reports; otherwise failed
// and due again after the exponential backoff with jitter (or the delay
// notify.RetryAfter says the provider asked for), dead after MaxAttempts attempts.
// Attempts and NextAttemptAt are stored, so a restart continues the schedule. The
// history keeps done notifications (sent, dead, silenced) for Options.Retention (30
// days), pruned hourly.
//
// # Crash safety
//
// Every change goes through the store first, and the store is the only state:
//
//   - The events read, the alert changes they make and the notifications those enqueue
//     are written in one transaction (AlertStore.CommitAlerts with the cursor). Killed
//     before it commits, a restart reads the same events again from the old cursor and
//     makes the same changes; killed after, it starts after them. A state change and
//     its notifications therefore happen exactly once: a restart never sends a second
//     firing notification, and never loses a firing alert.
//   - Repeats, clearing and metric evaluation write each alert over the version they
//     read it at (compare-and-set), with their notifications in the same transaction;
//     two engines, or an engine and its predecessor's leftovers, cannot both make one
//     change.
//   - Delivery is at least once: a notification sent and not yet recorded when the
//     process dies is claimed again once its lease expires (Options.Lease) and sent
//     again under the same notification ID, which receivers use to drop the second
//     copy (notify.Message.ID: the webhook's X-Platform-Delivery; PagerDuty dedups by
//     the alert's Key). A worker never starts a send on a lease about to expire, and
//     an engine that stops hands back what it holds, due at once.
//
// The engine's first start on a store where its cursor was never written begins at the
// end of the event log, so that turning alerting on does not replay history.
package alerting
