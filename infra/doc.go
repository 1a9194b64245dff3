// Package infra describes the infrastructure of a Micro Platform deployment and renders it
// into Terraform/OpenTofu root modules, one per region.
//
// An operator describes the platform in one file, platform.yaml:
//
//	platform:
//	  name: micro
//	  domain: example.dev
//	  state: { backend: s3, bucket: micro-tf-state, region: eu-west-2 }
//	  dns: { provider: cloudflare, zone: example.dev, account_id: 0123456789abcdef0123456789abcdef }
//	regions:
//	  - name: lon1
//	    provider: digitalocean
//	    location: lon1
//	    nodes: { size: s-4vcpu-8gb, min: 3, max: 6 }
//
// [Load] and [Parse] decode the file and report every problem at once, each with its line,
// as one *platform.Error with code EINVALID. [RenderRegion] turns one region into a root
// module (main.tf, versions.tf, backend.tf, providers.tf) that calls the modules shipped in
// [Modules]: doks, eks, aks and gke for managed Kubernetes, platform to install the platform
// onto a cluster, dns-cloudflare for global load balancing, and local and dns-local, which
// model a region and the load balancer with the built-in terraform_data resource so the
// real engine can plan, apply and destroy without a cloud.
//
// # Global DNS
//
// [RenderGlobal] renders one more root module, [GlobalRoot], once the regions are applied:
// it calls dns-cloudflare with one pool per region, whose origin is the host of the region's
// gateway_endpoint output, a monitor probing /healthz, and a proxied load balancer on
// api.<domain> ([GlobalHostname]). Its state has its own key ending in global, so region
// names "global" (always) and "api" (with platform.dns) are refused. With dns provider
// local the same root calls dns-local instead (same variables and outputs, plus origins).
//
// [Engine.ApplyGlobal] applies it after the regions: with every region whose state holds a
// gateway endpoint (the endpoints of the regions just applied are passed in; the others are
// read from their state), so the load balancer always matches what is applied, whichever
// regions a run touched. Regions not applied yet are reported as pending and join on the
// apply that creates them; when no region is left the root is applied empty, which removes
// the load balancer. platform infra apply leaves a region whose apply just failed out of it;
// platform infra destroy runs it after the region is gone. [Engine.PlanGlobal] plans it the
// same way.
//
// # Defaults
//
// Every default lives in defaults.go; this table is its documentation.
//
//	key                          default
//	platform.state.prefix        platform/<platform.name>
//	platform.state.path (local)  .platform/state
//	platform.state.schema (pg)   platform_<platform.name>
//	platform.dns.zone            platform.domain
//	platform.chart               deploy/kubernetes
//	regions[].location (local)   local
//	regions[].nodes.size         digitalocean s-2vcpu-4gb, aws t3.large, azure Standard_D4s_v5,
//	                             gcp e2-standard-4, local local
//	regions[].nodes.min          1
//	regions[].nodes.max          3
//	regions[].network            10.10.0.0/16
//	regions[].kubernetes_version 1.31
//
// Each region keeps its own state and lock: the state key (s3, azurerm), prefix (gcs),
// schema (pg) or path (local) ends in the region's name.
//
// # Secrets
//
// The file never holds credentials; keys such as token, secret, password or access_key are
// refused. The engine and its providers read them from the environment of the process that
// runs it:
//
//	digitalocean  DIGITALOCEAN_TOKEN
//	aws           AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (or AWS_PROFILE), AWS_SESSION_TOKEN
//	azure         ARM_SUBSCRIPTION_ID, ARM_TENANT_ID, ARM_CLIENT_ID, ARM_CLIENT_SECRET
//	gcp           GOOGLE_CREDENTIALS, GOOGLE_PROJECT
//	cloudflare    CLOUDFLARE_API_TOKEN (DNS and load balancing; platform.dns.account_id is
//	              an identifier, not a secret, and lives in the file)
//	local         none
//	state s3      the AWS_* variables above
//	state gcs     GOOGLE_CREDENTIALS
//	state azurerm ARM_* above (or ARM_ACCESS_KEY)
//	state pg      PLATFORM_INFRA_PG_CONN, handed to the engine as PG_CONN_STR
//	platform DB   TF_VAR_database_url (optional; without it PostgreSQL runs in the cluster)
//
// [ProviderEnv] and [StateEnv] return these lists for the driver to check before it runs.
//
// # How the modules are checked
//
// Every shipped module and every rendered root module is parsed with hcl/v2 in the tests,
// which check that each variable has a type and a description, each output a description,
// each required provider a source and a pinned version (and local none), that no module
// configures a provider, and that rendered roots pin providers as the modules do. Golden
// files in testdata/golden hold the rendered root of a region of every provider kind
// (go test ./infra -update rewrites them). The local module is validated by OpenTofu in
// the tests (TestValidateWithTheEngine) and its rendered roots are planned, applied and
// destroyed for real (engine_test.go, e2e); it was also run by Terraform 1.11.4 by hand.
// dns-local is validated and run the same way (globalops_test.go, e2e).
// The cloud modules (doks, eks, aks, gke), dns-cloudflare and platform are only parsed and
// golden-tested: their providers cannot be installed offline, so `tofu validate` cannot
// run on them here.
//
// # Running the engine
//
// [Engine] runs tofu (preferred) or terraform through terraform-exec on the rendered root
// modules. Its work directory holds <work>/modules, a copy of [Modules], and
// <work>/<region>, each region's rendered root. [Engine.Plan] summarises each region's plan
// per resource (create, update, replace, delete, no-op); [Engine.Apply] applies regions in
// parallel up to a limit and returns their outputs (gateway_endpoint, kubeconfig_ref, ...);
// [Engine.Destroy] destroys one region; [Engine.Status] reads each region's state. One
// region's failure never stops the others: it is reported in that region's result and
// joined in the returned error, and running again continues from the state it left. Each
// region has its own state lock; a lock held by another run is reported as ECONFLICT with
// its ID and is never broken (no -lock=false, no force-unlock).
//
// The local region kind declares one root variable, fail_apply, which tests set through
// [EngineOptions].ExtraVars to make a region's apply fail on purpose.
//
// scripts/build-tofu builds OpenTofu from the Go module proxy and writes a CLI configuration
// that installs providers only from a filesystem mirror, so the engine tests run offline.
//
// The CLI verbs platform infra plan|apply|destroy|status (package cli) drive the engine and
// register applied regions with the control plane.
package infra
