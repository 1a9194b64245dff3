package http

import "github.com/micro/platform/authz"

// RouteRule is the policy of one route: the action the ControlPlane holds the caller
// to, and the path parameter naming the namespace it applies to ("" for none).
type RouteRule struct {
	Action authz.Action
	// Namespace is the path parameter that names the namespace, e.g. "ns".
	Namespace string
	// Public routes need no token (probes, metrics, the OpenAPI document).
	Public bool
	// Agent routes are served by Options.Regions to the agents of remote regions. They
	// are outside the API's authentication: the handler checks a region token itself, so
	// an API token opens nothing there. Mounted only when Options.Regions is set.
	Agent bool
}

// RoutePolicy is every route of the server, as "METHOD pattern", with its rule. The
// authorisation-matrix test walks the router and fails for a route missing here, then
// checks each route for every role, in the caller's own namespace and in another, against
// authz.Check: the ControlPlane method behind a route must enforce exactly this action.
var RoutePolicy = map[string]RouteRule{
	"GET /healthz":               {Public: true},
	"GET /readyz":                {Public: true},
	"GET /metrics":               {Public: true},
	"GET /v1/openapi.json":       {Public: true},
	"POST " + RepoWebhookRoute:   {Public: true},
	"POST /api/*":                {Action: authz.ServiceCall, Namespace: "Micro-Namespace"},
	"POST /v1/namespaces":        {Action: authz.NamespaceCreate},
	"GET /v1/namespaces":         {Action: authz.NamespaceRead},
	"DELETE /v1/namespaces/{ns}": {Action: authz.NamespaceDelete, Namespace: "ns"},

	"POST /v1/namespaces/{ns}/sources":                {Action: authz.ServiceDeploy, Namespace: "ns"},
	"POST /v1/namespaces/{ns}/deploys":                {Action: authz.ServiceDeploy, Namespace: "ns"},
	"GET /v1/namespaces/{ns}/services":                {Action: authz.ServiceRead, Namespace: "ns"},
	"GET /v1/namespaces/{ns}/services/{svc}":          {Action: authz.ServiceRead, Namespace: "ns"},
	"GET /v1/namespaces/{ns}/services/{svc}/metrics":  {Action: authz.ServiceRead, Namespace: "ns"},
	"DELETE /v1/namespaces/{ns}/services/{svc}":       {Action: authz.ServiceDelete, Namespace: "ns"},
	"POST /v1/namespaces/{ns}/services/{svc}/promote": {Action: authz.ServiceDeploy, Namespace: "ns"},
	"GET /v1/namespaces/{ns}/services/{svc}/releases": {Action: authz.ServiceRead, Namespace: "ns"},
	"GET /v1/namespaces/{ns}/releases/{id}":           {Action: authz.ServiceRead, Namespace: "ns"},
	"GET /v1/namespaces/{ns}/builds/{id}":             {Action: authz.ServiceRead, Namespace: "ns"},
	"GET /v1/namespaces/{ns}/builds/{id}/log":         {Action: authz.ServiceRead, Namespace: "ns"},
	"POST /v1/namespaces/{ns}/call":                   {Action: authz.ServiceCall, Namespace: "ns"},
	"GET /v1/namespaces/{ns}/tools":                   {Action: authz.ServiceRead, Namespace: "ns"},
	"POST /v1/namespaces/{ns}/connections":            {Action: authz.MeshConnect, Namespace: "ns"},
	"GET /v1/namespaces/{ns}/connections":             {Action: authz.MeshConnect, Namespace: "ns"},
	"GET /v1/namespaces/{ns}/mesh":                    {Action: authz.MeshConnect, Namespace: "ns"},
	"GET /v1/namespaces/{ns}/services/{svc}/logs":     {Action: authz.LogsRead, Namespace: "ns"},
	"GET /v1/namespaces/{ns}/events":                  {Action: authz.EventsRead, Namespace: "ns"},

	"POST /v1/tokens":        {Action: authz.TokenCreate},
	"GET /v1/tokens":         {Action: authz.TokenList},
	"DELETE /v1/tokens/{id}": {Action: authz.TokenRevoke},

	"GET /v1/regions":                 {Action: authz.RegionRead},
	"PUT /v1/regions/{name}":          {Action: authz.RegionManage},
	"DELETE /v1/regions/{name}":       {Action: authz.RegionManage},
	"POST /v1/regions/{name}/token":   {Action: authz.RegionManage},
	"GET " + agentConnectRoute:        {Agent: true},
	"POST " + agentControlRoute + "*": {Agent: true},

	"GET /v1/whoami":                 {Action: authz.TokenList},
	"GET /v1/users":                  {Action: authz.MemberRead},
	"POST /v1/users":                 {Action: authz.MemberManage},
	"PUT /v1/users/{login}/role":     {Action: authz.MemberManage},
	"POST /v1/users/{login}/disable": {Action: authz.MemberManage},
	"POST /v1/users/{login}/enable":  {Action: authz.MemberManage},
	"GET /v1/audit":                  {Action: authz.AuditRead},
	"GET /v1/org/github":             {Action: authz.OrgRead},
	"PUT /v1/org/github":             {Action: authz.OrgManage},

	// GitOps: rollback reuses an earlier build; repository links deploy on push.
	"POST /v1/namespaces/{ns}/services/{svc}/rollback": {Action: authz.ServiceDeploy, Namespace: "ns"},
	"GET /v1/repos":                         {Action: authz.RepoRead},
	"GET /v1/namespaces/{ns}/repos":         {Action: authz.RepoRead, Namespace: "ns"},
	"POST /v1/namespaces/{ns}/repos":        {Action: authz.RepoLink, Namespace: "ns"},
	"DELETE /v1/namespaces/{ns}/repos/{id}": {Action: authz.RepoLink, Namespace: "ns"},
	// The job proves who it is with its GitHub OIDC token, in the body.
	"POST /v1" + actionsTokenRoute: {Public: true},

	// Alerting: members read rules, silences, alerts and history (a narrowed token, those
	// of its namespaces); channels, and every change, are admins'.
	"GET /v1/alerts":                     {Action: authz.AlertRead},
	"GET /v1/alerts/history":             {Action: authz.AlertRead},
	"GET /v1/alerts/rules":               {Action: authz.AlertRead},
	"POST /v1/alerts/rules":              {Action: authz.AlertManage},
	"DELETE /v1/alerts/rules/{id}":       {Action: authz.AlertManage},
	"GET /v1/alerts/channels":            {Action: authz.AlertManage},
	"POST /v1/alerts/channels":           {Action: authz.AlertManage},
	"DELETE /v1/alerts/channels/{id}":    {Action: authz.AlertManage},
	"POST /v1/alerts/channels/{id}/test": {Action: authz.AlertManage},
	"GET /v1/alerts/silences":            {Action: authz.AlertRead},
	"POST /v1/alerts/silences":           {Action: authz.AlertManage},
	"DELETE /v1/alerts/silences/{id}":    {Action: authz.AlertManage},

	// Metering and billing: members read the usage of the namespaces they reach; the
	// plan and invoices (org-wide amounts) need a token for every namespace; admins
	// change the plan.
	"GET /v1/usage":         {Action: authz.NamespaceRead},
	"GET /v1/billing/plan":  {Action: authz.BillingRead},
	"PUT /v1/billing/plan":  {Action: authz.BillingManage},
	"GET /v1/invoices":      {Action: authz.BillingRead},
	"GET /v1/invoices/{id}": {Action: authz.BillingRead},
}
