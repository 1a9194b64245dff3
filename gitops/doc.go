// Package gitops turns GitHub events of linked repositories into releases: a push to a
// linked branch deploys the services whose directories it changed, a pull request gets a
// preview namespace that follows its pushes and is deleted when it closes, and each
// commit gets a status per service on GitHub.
//
// The pieces, in the order an event meets them:
//
//   - Receiver (webhook.go) verifies a delivery (HMAC-SHA256 under the link's own secret,
//     or the operator's GitHub App secret), stores it, and only then answers GitHub. A
//     retry of the same delivery changes nothing; the same signed body under another
//     delivery id is a replay, refused and audited.
//   - Worker (worker.go) processes stored deliveries in order per link, resuming those a
//     crash left queued. Its steps are idempotent: releases a delivery already made are
//     found by their origin and not made again.
//   - Mirror (mirror.go) keeps a clone of each linked repository and packs the tree of a
//     commit as a source archive: one fetch and one archive per push, whatever the
//     number of services.
//   - Project (project.go) reads which services a commit holds — go-micro's own micro.mu
//     or micro.json (parsed by go-micro's parser), else every directory with a main.go —
//     and which of them a change touches.
//
// The worker acts through platform.ControlPlane with a token of the link's organisation
// narrowed to the link's namespace (and, for previews, to the preview's), so the policy
// that holds for people holds for it.
package gitops
