// Package infra describes the infrastructure of a Micro Platform deployment and renders it
// into Terraform/OpenTofu root modules, one per region.
//
// An operator describes the platform in one file, platform.yaml:
//
//	platform:
//	  name: micro
//	  domain: example.dev
//	  image: registry.example.com/micro-platform/platform:v0.1.0   # cloud regions only
//	  registry: registry.example.com/micro-platform/services       # cloud regions only
//	  control: lon1                 # the control region (default: the first region)
//	  state: { backend: s3, bucket: micro-tf-state, region: eu-west-2 }
//	  dns: { provider: cloudflare, zone: example.dev, account_id: 0123456789abcdef0123456789abcdef }
//	  security: { api_allowed_cidrs: [203.0.113.0/24] }  # cloud regions only: who reaches the API
//	regions:
//	  - name: lon1
//	    provider: digitalocean
//	    location: lon1
//	    nodes: { size: s-4vcpu-8gb, min: 3, max: 6 }
//
// [Load] and [Parse] decode the file and report every problem at once, each with its line,
// as one *platform.Error with code EINVALID. [RenderRegion] turns one region into a root
// module (main.tf, versions.tf, backend.tf, providers.tf) that calls the modules shipped in
// [Modules]: doks, eks, aks and gke for managed Kubernetes, platform to install the control
// plane onto the control region's cluster and agent to install a region agent onto every
// other region's (see below), region-tokens for the agents' tokens, dns-cloudflare for
// global load balancing, and local and dns-local, which model a region and the load
// balancer with the built-in terraform_data resource so the real engine can plan, apply
// and destroy without a cloud.
//
// # Regions and their roles
//
// One region is the control region (platform.control, default the first): it runs the
// control plane (platform server) and the mesh, installed by the platform module. Every
// other region is an agent region: it runs a region agent (platform agent --runtime
// kubernetes, deploy/kubernetes/agent), installed by the agent module, which dials the
// control plane with the region's token and runs the region's NATS, gateway and services
// (docs/regions.md). The role is a module of its own rather than a variable of platform:
// the two install different manifests and take different secrets (the store's URL for
// the control plane, the control plane's URL and a region token for an agent), and an
// agent region has no database, no mesh and no secret key of the control plane's. An
// agent region may not be called local: that is the control plane's own region.
//
// The tokens come from the control region, without a login: its root calls region-tokens
// (through the platform module) with every agent region's name, provider and location.
// region-tokens keeps one token per agent region in the state (a terraform_data resource:
// two version-4 UUIDs of the engine's secure random source, 244 random bits, made once;
// rather than the random provider's random_password, so that it needs no provider and
// the local module, which the tests run for real, runs the very same code); the platform
// module writes their SHA-256 with each region's provider and location as JSON into the
// Secret platform-region-tokens (never a token), and the root's sensitive output
// region_tokens maps each agent region to its token. The control plane reads that Secret at start (region_tokens_file in its
// platform.yaml, control.BootstrapRegions): it creates or updates each listed region and
// sets its token hash, so that its agent connects; a listed hash wins over a token issued
// through the API for that region. A change of the set (a region added, removed, or a
// token replaced) changes the hash on the control plane's pod template, which rolls it.
//
// [Engine.Apply] applies the control region first, alone, then the agent regions in
// parallel, each with its own root variables control_url (the control region's
// gateway_endpoint output: the API and the gateway share the port) and region_token (its
// entry of region_tokens), handed over in the owner-only var file the engine uses for
// TF_VAR_ entries and never on a command line, in progress lines or in the results. An
// agent region applied alone (--region) reads them from the control region's state; until
// the control region is applied, or before it made that region's token, the agent
// region's apply is refused with EINVALID saying which region to apply first, and its plan
// is made without them and carries a note ([RegionPlan].Note) saying so. When the control
// region's apply fails, no agent region is applied. Sensitive outputs are kept out of
// [RegionResult].Outputs and [RegionStatus].Outputs, and the engine's JSON output (outputs,
// state) never reaches Progress.
//
// # Installing the control plane on the control region
//
// The platform module installs exactly what deploy/kubernetes (a kustomize base)
// describes. The base is shipped inside the module as install.yaml.tftpl: the output of
// kubectl kustomize deploy/kubernetes with the values a region varies as template
// variables: the image (platform.image), the registry builds are pushed to
// (platform.registry), the server's gateway_domain (<region>.<domain>, or empty without a
// domain), the SHA-256 of the region tokens file (a pod template annotation) and the hash
// in the server config's ConfigMap name (kustomize's generator names it after its content
// so a change rolls the Deployment; the module hashes the template and the values
// instead). TestInstallTemplate in deploy/kubernetes renders the base with
// the real kubectl, substitutes the same way and requires equality (-update rewrites it).
//
// A region's apply, in order:
//
//  1. kubernetes_namespace_v1 creates the manifest's own Namespace (name and pod-security
//     labels decoded from its first document);
//  2. kubernetes_secret_v1 creates the Secrets the base expects: platform-store (key url,
//     from TF_VAR_database_url), platform-secret-key (key secret.key, 32 bytes from the
//     random provider's random_bytes, kept in the state) and platform-region-tokens (key
//     regions.json, the agent regions' token hashes, above);
//  3. the provider-free submodule platform/install renders the template with
//     templatefile() and a terraform_data resource, replaced whenever the manifest's
//     SHA-256 changes, runs kubectl apply --server-side --force-conflicts
//     --field-manager=platform-infra from a local-exec provisioner, then (unless
//     wait_for_rollout is false) kubectl rollout status for the mesh and the control plane
//     (its rollouts variable).
//     The manifest and the credentials (the cluster module's host, cluster_ca_certificate
//     and token or client_certificate + client_key) reach the command only through its
//     environment; it writes them into a kubeconfig in a mode-0700 temporary directory with
//     the shell's printf and removes it on exit. kubectl must be on the PATH of the process
//     that runs the engine (scripts/build-k8s builds one);
//  4. kubernetes_service_v1 platform-gateway, a LoadBalancer in front of the base's
//     ClusterIP Service platform (the base leaves exposure to the operator), waits for its
//     address: gateway_endpoint is https://<region>.<domain> with a domain, else
//     http://<that address>.
//
// kubernetes_manifest is not used because it needs the API server at plan time, and on a
// region's first plan the cluster does not exist. The install step deletes nothing, not
// even when destroyed: replacing it on a change re-applies in place (a delete-then-create
// would delete the platform-data volume and stop the platform), and a destroy-time
// provisioner could only use credentials stored at create time, which have expired by then
// on EKS (15 minutes) and GKE (an hour). Destroying the region deletes the namespace with
// the kubernetes provider's current credentials instead, which removes everything the
// manifest put in it, the Secrets, the load balancer (the provider waits for the cloud's
// clean-up) and the PersistentVolumeClaims, before the cluster goes; the disks behind the
// claims are released by the cluster's storage driver asynchronously, so one may outlive a
// cluster destroyed right after. The base's cluster-scoped objects, ClusterRole and
// ClusterRoleBinding micro-platform and the ValidatingAdmissionPolicy and its binding
// micro-platform-scope, go with the cluster. Superseded
// platform-config-<hash> ConfigMaps are not pruned; they go with the namespace.
//
// # Installing an agent on the other regions
//
// The agent module does the same with deploy/kubernetes/agent, shipped as the agent
// module's install.yaml.tftpl (TestAgentInstallTemplate keeps it equal to the base, with
// the image, the registry, the region's name, the control plane's URL, the SHA-256 of the
// region's token (a pod template annotation, so a new token rolls the agent) and the
// config's hash as variables), through the same provider-free platform/install step
// (template, values and rollouts deployment/platform-agent). In order: the namespace; the
// Secret platform-region-token (key token, from the region_token variable, sensitive);
// the manifest; a LoadBalancer platform-gateway in front of the agent's gateway (port 80
// to its 8081), whose address makes the region's gateway_endpoint as for the control
// plane. The agent pushes the images it packs from the control plane's builds to
// platform.registry. Destroying deletes the namespace; the ClusterRole and
// ClusterRoleBinding platform-agent and the admission policy platform-agent-scope go with
// the cluster.
//
// The base runs no database: the control region needs TF_VAR_database_url (a postgres:// URL of
// a managed PostgreSQL the cluster can reach); the platform module refuses a plan without
// it. Agent regions need none. A change of the URL updates the Secret only: the control plane reads it at start, so
// follow it with kubectl -n micro-platform rollout restart deployment/platform.
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
// # Hardening of the cloud clusters
//
// The cluster modules build hardened clusters; each protection with a cost, or that can
// get in an operator's way, is a switch of a security block: platform.security for every
// cloud region, a region's own security over it key by key ([Security], [SecuritySwitches];
// a local region takes none, and a switch a provider does not offer is refused on that
// region). The rendered root passes every switch its cluster module takes, explicitly.
//
//	switch                default  providers                    what
//	api_allowed_cidrs     none     aws azure gcp digitalocean   the only networks that reach the Kubernetes API
//	private_nodes         true     aws gcp                      nodes without public addresses, egress through NAT
//	envelope_encryption   true     aws                          Secrets under a KMS key of the cluster's own
//	flow_logs             true     aws azure gcp                the network's flows logged
//	metadata_concealment  true     aws gcp                      pods kept from the node's credentials (IMDSv2 hop
//	                                                            limit 1; GKE metadata server, Workload Identity)
//
// api_allowed_cidrs has no default, and a cloud region without it is refused (EINVALID,
// naming the key and where to set it): platform infra apply reaches the API with its
// kubernetes provider and kubectl from where it runs, so the operator lists those networks;
// a private-only endpoint would need a bastion in each region's network, which the modules
// do not build. Not switches, since the platform depends on them: NetworkPolicy enforcement
// (EKS VPC CNI add-on with its policy agent, AKS Calico, GKE Dataplane V2; DOKS's Cilium),
// Kubernetes RBAC on AKS, no node public addresses on AKS, no GKE legacy metadata endpoints.
// docs/security.md ("Cloud clusters") gives each reason and what a provider does not offer
// (DigitalOcean: the allow-list only). security_test.go reads each module with the values
// its rendered root passes, with the defaults and with each switch off, and checks what a
// plan would hold.
//
// # An existing cluster
//
// Provider kind existing installs the control plane onto a cluster that exists already,
// reached with a kubeconfig file (regions[].kubeconfig, and .context), rather than one
// platform infra creates:
//
//	regions:
//	  - { name: home, provider: existing, kubeconfig: admin.kubeconfig }
//
// Its root calls module existing only: no cluster module and no provider at all (the
// root's versions.tf requires none), so it applies where only the engine and kubectl are
// at hand. The module does what the platform module does with the kubernetes and random
// providers, provider-free: kubectl from a local-exec provisioner (existing/secrets.sh)
// creates the namespace and the Secrets platform-store (TF_VAR_database_url, which must
// be reachable from the cluster's pods), platform-secret-key and platform-region-tokens;
// the secret key is two uuid() without dashes (64 hexadecimal characters, 244 random bits;
// the server reads the file as bytes), kept in the state as region-tokens keeps tokens;
// then platform/install applies the manifest with the operator's kubeconfig (install's
// kubeconfig and kube_context). No load balancer is made: exposing the platform Service is
// the cluster owner's, as for a hand install of deploy/kubernetes, so gateway_endpoint is
// https://<region>.<domain> with a domain and the Service's in-cluster name
// (http://platform.micro-platform.svc) without. kubeconfig_ref is "kubeconfig:PATH" (and
// "#CONTEXT"). Destroying deletes the namespace and the manifest's cluster-wide objects
// (RBAC, the admission policy) with the destroy-time provisioner of a resource of its own,
// which a change of the Secrets never replaces (that change applies them again and deletes
// nothing); never the cluster. The namespaces the control plane made for platform
// namespaces (mp-*) are left: they are the control plane's, not the install's. nodes, network and security do not apply and are refused, and for now an
// existing cluster can only be the control region (an agent on a kubeconfig is not
// rendered). TestExistingInstallWithTheEngine applies the module with OpenTofu and kubectl
// to the test kube-apiserver (the Secrets' content, the key kept, a new database URL
// applied without touching the namespace); the install test on the real cluster
// (e2e/install_test.go, docs/kubernetes-e2e.md) applies and destroys it with the real CLI.
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
//	platform.image, .registry    none: required when a region is not local
//	platform.control             the first region
//	regions[].location (local)   local
//	regions[].location (existing) existing
//	regions[].kubeconfig         none: required for provider existing (and refused elsewhere);
//	                             relative to platform.yaml
//	regions[].context            the kubeconfig's current context (existing)
//	regions[].nodes.size         digitalocean s-2vcpu-4gb, aws t3.large, azure Standard_D4s_v5,
//	                             gcp e2-standard-4, local local (existing: unused)
//	regions[].nodes.min          1
//	regions[].nodes.max          3
//	regions[].network            10.10.0.0/16
//	regions[].kubernetes_version 1.31
//	security.api_allowed_cidrs   none: required for a cloud region (platform.security or the region's)
//	security.private_nodes,
//	  .envelope_encryption,
//	  .flow_logs,
//	  .metadata_concealment      true (DefaultSecurity), where the provider takes them
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
//	existing      none in the environment: the kubeconfig file platform.yaml names
//	state s3      the AWS_* variables above
//	state gcs     GOOGLE_CREDENTIALS
//	state azurerm ARM_* above (or ARM_ACCESS_KEY)
//	state pg      PLATFORM_INFRA_PG_CONN, handed to the engine as PG_CONN_STR
//	platform DB   TF_VAR_database_url (required for a cloud control region: deploy/kubernetes
//	              runs no PostgreSQL; it becomes the platform-store Secret)
//	region tokens none: the control region makes them (above)
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
// The local module runs region-tokens and models each role, so the roles are run for real
// too (roles_test.go, e2e): the control region's region_tokens hold one token per agent
// region, each agent region receives the control region's gateway_endpoint and a token
// whose SHA-256 is the one the control region wrote, an agent region alone is refused
// until the control region is applied (and until it made that region's token), a new
// agent region gets a token of its own while the others keep theirs, no agent region is
// applied when the control region fails, and no token shows in progress lines, results or
// status.
// dns-local is validated and run the same way (globalops_test.go, e2e).
// The cloud modules (doks, eks, aks, gke), dns-cloudflare, platform and agent are only
// parsed, golden-tested and, for the cluster modules' hardening, read with the rendered
// values (above): their providers (and kubernetes and random for platform,
// kubernetes for agent) cannot be installed offline, so `tofu validate` cannot run on them
// here.
//
// Of the platform module, what runs for real is its install step, the provider-free
// submodule platform/install: TestPlatformInstallWithTheEngine applies it with OpenTofu and
// the real kubectl (scripts/build-k8s) to a real kube-apiserver with client-certificate
// and token credentials, and checks the applied manifest is the rendered base
// (deploy/kubernetes/testdata/rendered.yaml) with the region's values, that every object is
// stored and kubectl diff is then empty, that a second plan is empty, that a new image is
// applied in place (same Deployment UID), that a rollout that never completes fails the
// apply, that no credential file is left in TMPDIR, that a missing kubectl is named, and
// that destroying the step deletes nothing. Not exercised: the platform module's own
// resources (namespace, Secrets, random key, load balancer, the order between them and
// the destroy through the namespace), which need the kubernetes and random providers, and
// any rollout, since no kubelet runs in the test cluster. TestAgentInstallWithTheEngine
// applies the same step as the agent module calls it (the agent's template, values and
// rollouts) and checks the agent's Deployment runs the region's name (quoted: a region
// called "on" stays a string) against the control plane's URL with the token's hash on
// its pod template. The agent module's own resources are not exercised, nor is an agent
// pod ever started.
//
// # Running the engine
//
// [Engine] runs tofu (preferred) or terraform through terraform-exec on the rendered root
// modules. Its work directory holds <work>/modules, a copy of [Modules], and
// <work>/<region>, each region's rendered root. [Engine.Plan] summarises each region's plan
// per resource (create, update, replace, delete, no-op); [Engine.Apply] applies regions in
// parallel up to a limit, the control region first (above), and returns their outputs
// (gateway_endpoint, kubeconfig_ref, role, ...);
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
