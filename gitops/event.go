package gitops

import (
	"encoding/json"
	"strings"

	platform "github.com/micro/platform"
)

// zeroCommit is the "before" of a push that created its branch.
const zeroCommit = "0000000000000000000000000000000000000000"

// maxPayloadCommits is how many commits GitHub lists in a push payload; a push with more
// is diffed from the mirror instead.
const maxPayloadCommits = 20

// pushEvent is what the worker reads of a push payload.
type pushEvent struct {
	Ref     string   `json:"ref"`
	Before  string   `json:"before"`
	After   string   `json:"after"`
	Created bool     `json:"created"`
	Deleted bool     `json:"deleted"`
	Forced  bool     `json:"forced"`
	Commits []commit `json:"commits"`
	Head    *commit  `json:"head_commit"`
	Repo    repo     `json:"repository"`
	Pusher  struct {
		Name string `json:"name"`
	} `json:"pusher"`
}

type commit struct {
	ID      string `json:"id"`
	Message string `json:"message"`
	Author  struct {
		Name     string `json:"name"`
		Username string `json:"username"`
	} `json:"author"`
	Added    []string `json:"added"`
	Modified []string `json:"modified"`
	Removed  []string `json:"removed"`
}

type repo struct {
	FullName string `json:"full_name"`
	CloneURL string `json:"clone_url"`
}

// pullRequestEvent is what the worker reads of a pull_request payload.
type pullRequestEvent struct {
	Action string `json:"action"`
	Number int    `json:"number"`
	PR     struct {
		Title  string `json:"title"`
		Merged bool   `json:"merged"`
		User   struct {
			Login string `json:"login"`
		} `json:"user"`
		Head struct {
			Ref  string `json:"ref"`
			SHA  string `json:"sha"`
			Repo repo   `json:"repo"`
		} `json:"head"`
		Base struct {
			Ref string `json:"ref"`
		} `json:"base"`
	} `json:"pull_request"`
	Repo repo `json:"repository"`
}

// envelope is what the receiver reads of any payload before it is verified: which
// repository it concerns (to find the links) and its action.
type envelope struct {
	Action string `json:"action"`
	Repo   repo   `json:"repository"`
}

// changedPaths returns the paths the push's commits added, modified or removed, and
// whether the payload lists all of them: it does not for a new or force-pushed branch,
// or when GitHub cut the list of commits.
func (e *pushEvent) changedPaths() ([]string, bool) {
	if e.Created || e.Forced || e.Before == "" || e.Before == zeroCommit || len(e.Commits) == 0 || len(e.Commits) >= maxPayloadCommits {
		return nil, false
	}
	seen := map[string]bool{}
	var out []string
	for _, c := range e.Commits {
		for _, list := range [][]string{c.Added, c.Modified, c.Removed} {
			for _, p := range list {
				if !seen[p] {
					seen[p] = true
					out = append(out, p)
				}
			}
		}
	}
	return out, true
}

// origin describes the push's head commit for the releases it makes.
func (e *pushEvent) origin(delivery string) *platform.ReleaseOrigin {
	o := &platform.ReleaseOrigin{Kind: platform.OriginPush, Repo: e.Repo.FullName, Ref: e.Ref, Commit: e.After, Delivery: delivery}
	if e.Head != nil {
		o.Author = e.Head.Author.Username
		if o.Author == "" {
			o.Author = e.Head.Author.Name
		}
		o.Message = firstLine(e.Head.Message)
	}
	if o.Author == "" {
		o.Author = e.Pusher.Name
	}
	return o
}

// firstLine is a commit message's subject, at most 200 characters.
func firstLine(msg string) string {
	msg, _, _ = strings.Cut(strings.TrimSpace(msg), "\n")
	if len(msg) > 200 {
		msg = msg[:200]
	}
	return msg
}

func decode[T any](body []byte) (*T, error) {
	var v T
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, platform.Errorf(platform.EINVALID, "webhook body is not the JSON GitHub sends: %v", err)
	}
	return &v, nil
}
