// Package metering takes usage events to hourly rollups, exactly once: a Publisher puts
// the events the gateway, the runtime and the builder emit on a JetStream stream, and a
// Folder folds the stream into the store's rollups (platform.MeteringStore), which
// billing rates.
//
//	emitters ─Publish─▶ Publisher ─▶ JetStream stream ─▶ Folder ─CommitUsage─▶ store
//	                    buffer,       PLATFORM_USAGE,     batches   rollups, event IDs
//	                    batches,      file storage,                 and the position,
//	                    retries       purged once folded            in one transaction
//
// # Guarantees
//
// An event published is counted in its rollup exactly once, whatever crashes (kill -9
// of any process, at any point), restarts and redeliveries happen between, because:
//
//   - The stream keeps every message until the folder has committed it: file storage,
//     no age limit, and when full it refuses new messages (DiscardNew) rather than drop
//     stored ones. The folder purges what it committed.
//   - The folder reads from the position the store holds and commits, in one
//     transaction, the rollups of a batch, the IDs of its events, and the move of the
//     position from where the batch began to its last message (compare-and-set). A
//     crash before the commit loses the batch's work, not its events: the next folder
//     reads them again from the same position. A crash after it cannot count them
//     again: the position moved with them. Two folders of one stream never both count a
//     message: the second commit finds the position moved (ECONFLICT) and resumes after
//     it.
//   - An event delivered twice (published twice, re-emitted by an emitter that
//     restarted, carried in two messages) counts once: JetStream drops a message whose
//     ID (Nats-Msg-Id) it saw within its duplicate window (2 minutes), and the store
//     remembers the IDs it counted, by hour, for FolderOptions.DedupeWindow after the
//     latest time of the stream (1 hour, plus the rest of the hour), and refuses events
//     of the hours it has forgotten as late, so a duplicate never counts twice, however
//     late.
//   - The store's position is named by the stream and its creation time, so a stream
//     deleted and created again (its sequences start over) is folded from its start.
//
// A crash of the process is one thing, a crash of the machine another: JetStream has
// written an acknowledged message to its file, but syncs files to disk every two
// minutes, so a power loss can lose the last events acknowledged.
//
// What is not counted is counted elsewhere and said: an event Publish finds no room for
// in the buffer (the stream is slow, full or unreachable for longer than the buffer
// lasts: about a second of a busy gateway by default), one every publish attempt of
// which failed, an invalid one (platform_metering_dropped_total{reason}, a warning
// every 10 s, PublisherStats), an event that reaches the stream more than the dedupe
// window after its time (platform_metering_folded_total{result="late"}, a warning,
// FolderStats.Late), and a message that is not an event (result="invalid").
//
// These are proven by tests against a real embedded NATS server and the real stores:
// TestProperty (random sequences of events with duplicates, re-emissions past
// JetStream's window and messages of several events; folder commits that fail before or
// after they are written; restarts of the folder, the publisher and the NATS server:
// the rollups equal the sum of the distinct events, on SQLite and PostgreSQL) and
// TestCrash (a child process publishing and folding 100,000 events, killed with SIGKILL
// six times while it publishes, while it folds and right after it starts, each time
// started again and publishing every event again: the totals are exact). storetest's
// Metering suite checks the store's side on both engines: compare-and-set, dedupe
// within and across commits, concurrent folders, the horizon.
//
// # The emitters' contract: event IDs
//
// The pipeline can count each event once only if each event has one ID, and emitters
// choose them:
//
//   - An ID names one event for good: the same ID always comes with the same fields
//     (above all the same Time: the store remembers IDs by hour). Two events never share
//     an ID, across emitters and restarts: prefix IDs with the emitter (its kind and
//     instance) and derive the rest from what the event measures, never from a clock or
//     a random number drawn again after a restart.
//   - An emitter that cannot tell whether an event reached the stream (it was buffered
//     when the process died, Flush did not return nil) emits it again, with the same
//     ID, within the dedupe window of its Time. Re-emitting is always safe; not
//     re-emitting may lose usage.
//   - IDs that grow with time (a sequence, a time prefix) keep the store's index of IDs
//     compact, but any string does.
//
// The platform's emitters:
//
//   - The gateway counts requests and response bytes per namespace, service and minute
//     on the request's path (two additions under a per-series lock), and at each flush
//     (every 10 s) publishes one event per namespace, service, minute and meter:
//     "gw/<gateway instance>/<flush>/<namespace>/<service>/<minute>/requests" and
//     ".../egress". It waits for them to be published (PublishWait, Flush) and keeps
//     those it could not publish, IDs and all, for the next flush. Aggregating first is
//     what makes metering free for the gateway (BenchmarkGatewayMetering): a busy gateway
//     publishes a few events a second, not one per request.
//   - The control plane, every minute, for each instance observed running: the
//     instance-seconds of each whole minute since the last it metered, from the
//     instance's start, times platform.Size.Weight, "inst/<region>/<instance>/<unix
//     minute>"; and for each build that ended, "build/<build>" (its seconds, a started
//     second counting). After a restart it goes back an hour (instances keep running
//     across a restart of the server), and whatever it emitted before counts once.
//   - The local runtime's log store (logstore.Store.Meter), every minute, for each
//     instance whose ingested output grew: "log/<region>/<instance>/<bytes counted
//     before>", the growth. It writes each count to the instance's directory before
//     publishing it, so a count interrupted by a crash goes out again unchanged.
//     Kubernetes keeps its pods' logs itself: not metered. Agents' tool calls are not
//     metered yet.
//
// # Wiring
//
// `platform server` connects to its NATS server's usage account (natsbus.Bus.UsageConn:
// JetStream, reachable by no namespace, with credentials derived from the platform's
// secret) and runs one Publisher, which the gateway and the control plane share, and one
// Folder, which folds the stream into the platform's store. A server whose NATS is in a
// supercluster has no JetStream: it meters nothing and says so when it starts. A region
// agent has no usage stream of its own: its gateway and its log store send their events
// to the control plane (ControlService.RecordUsageEvents, runtimeapi.RegionUsage), which
// publishes them into its pipeline — as the agent's region, billed to the organisation of
// their namespace — and answers once they are published, so the agent sends again what
// was not acknowledged.
// Billing reads platform.MeteringStore.ListUsageRollups.
//
// At shutdown the gateway flushes once more, but the embedded NATS server may stop
// first: up to one flush interval of requests (10 s) can go unmetered at a clean stop
// and after a crash. The request counts of platform.UsageStore, written by the same
// flush, have the same bound.
//
// # Performance
//
// Publish costs about 50 ns and no allocation (BenchmarkPublish). BenchmarkIngest
// measures events/s from Publish to committed rollups, on 2 cores, with the embedded
// server (file storage) and a real store: 150,000–250,000 events/s on SQLite and about
// 100,000 on PostgreSQL (which shares the cores), against a target of 100,000. Three
// things make it so: under load a message carries up to MaxBatch events (one JetStream
// write and acknowledgement for many: one event per message managed 17,000 events/s),
// the folder commits up to 10,000 events in one transaction, and the store inserts
// their IDs in key order, in multi-row statements, asking which were new only when some
// were not.
package metering
