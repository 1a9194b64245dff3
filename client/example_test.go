package client_test

import (
	"context"
	"fmt"
	"log"

	platform "github.com/micro/platform"
	"github.com/micro/platform/client"
)

// Following a deploy: record the newest event, deploy, then read the service's events
// after it until the release is live or has failed.
func Example() {
	ctx := context.Background()
	c := client.New("http://127.0.0.1:8080", client.WithToken("mp_..."))

	latest, err := c.Events(ctx, platform.EventFilter{Namespace: "acme", Limit: 1})
	if err != nil {
		log.Fatalf("%s (%s)", platform.ErrorMessage(err), platform.ErrorHint(err))
	}
	var after int64
	for _, e := range latest {
		after = e.ID
	}
	rel, err := c.Deploy(ctx, platform.DeployRequest{
		Namespace: "acme", Service: "helloworld",
		Source: platform.Source{Kind: platform.SourceGit, URL: "https://github.com/acme/helloworld.git"},
	})
	if err != nil {
		log.Fatal(err)
	}
	events, err := c.FollowEvents(ctx, platform.EventFilter{Namespace: "acme", Service: "helloworld", AfterID: after})
	if err != nil {
		log.Fatal(err)
	}
	defer events.Close()
	for events.Next() {
		e := events.Value()
		fmt.Println(e.Type, e.Message)
		if e.Data["release"] == rel.ID && (e.Type == platform.EventReleaseRolledOut || e.Type == platform.EventReleaseFailed) {
			break
		}
	}
	if err := events.Err(); err != nil {
		log.Fatal(err)
	}
}
