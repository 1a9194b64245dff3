package stripe

import (
	"context"
	"fmt"
	"slices"
	"strings"

	stripego "github.com/stripe/stripe-go/v82"

	platform "github.com/micro/platform"
)

// EnsureCustomer returns the id of the Stripe customer of org, the one whose metadata
// names it, creating it (name, email, metadata) when there is none. The caller keeps the
// id and calls this only when it has none: EINVALID without an org name.
//
// Search finds a customer created more than about a minute ago (Stripe's search index
// lags); a customer created since is found again by the idempotency key of its creation,
// which Stripe keeps for 24 hours. So one org never gets two customers, whenever the call
// is repeated. Should two customers carry the org (made by hand), the oldest is used.
func (c *Client) EnsureCustomer(ctx context.Context, org *platform.Org, email string) (string, error) {
	if org == nil || org.Name == "" {
		return "", platform.Errorf(platform.EINVALID, "a Stripe customer needs an organisation name")
	}
	op := fmt.Sprintf("Stripe customer of organisation %s", org.Name)
	var found []*stripego.Customer
	params := &stripego.CustomerSearchParams{SearchParams: stripego.SearchParams{
		Query: fmt.Sprintf("metadata['%s']:'%s'", metaOrg, searchQuote(org.Name)),
	}}
	for cu, err := range c.api.V1Customers.Search(ctx, params) {
		if err != nil {
			return "", c.apiError("find the "+op, err)
		}
		if cu.Metadata[metaOrg] == org.Name && !cu.Deleted {
			found = append(found, cu)
		}
	}
	if len(found) > 0 {
		slices.SortFunc(found, func(a, b *stripego.Customer) int {
			return cmpCreated(a.Created, b.Created, a.ID, b.ID)
		})
		if len(found) > 1 {
			c.log.Warn("several Stripe customers carry one organisation: using the oldest",
				"org", org.Name, "customer", found[0].ID, "count", len(found))
		}
		return found[0].ID, nil
	}

	name := org.DisplayName
	if name == "" {
		name = org.Name
	}
	create := &stripego.CustomerCreateParams{
		Params:      stripego.Params{IdempotencyKey: stripego.String(customerKey(org.Name))},
		Name:        stripego.String(name),
		Description: stripego.String("Micro Platform organisation " + org.Name),
		Metadata:    map[string]string{metaOrg: org.Name},
	}
	if email != "" {
		create.Email = stripego.String(email)
	}
	cu, err := c.api.V1Customers.Create(ctx, create)
	if err != nil {
		return "", c.apiError("create the "+op, err)
	}
	c.log.Info("created the Stripe customer of an organisation", "org", org.Name, "customer", cu.ID)
	return cu.ID, nil
}

// searchQuote escapes a value for a quoted string of Stripe's search query language.
func searchQuote(s string) string {
	return strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s)
}

func cmpCreated(a, b int64, aID, bID string) int {
	if a != b {
		if a < b {
			return -1
		}
		return 1
	}
	return strings.Compare(aID, bID)
}
