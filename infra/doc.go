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
// onto a cluster (see below), dns-cloudflare for global load balancing, and local and
// dns-local, which model a region and the load balancer with the built-in terraform_data
// resource so the real engine can plan, apply and destroy without a cloud.
//
// # Installing the platform on a region
//
// The platform module installs exactly what deploy/kubernetes (a kustomize base)
// describes. The base is shipped inside the module as install.yaml.tftpl: the output of
// kubectl kustomize deploy/kubernetes with the values a region varies as template
// variables: the image (platform.image), the registry builds are pushed to
// (platform.registry), the server's gateway_domain (<region>.<domain>, or empty without a
// domain) and the hash in the server config's ConfigMap name (kustomize's generator names
// it after its content so a change rolls the Deployment; the module hashes the template
// and the values instead). TestInstallTemplate in deploy/kubernetes renders the base with
// the real kubectl, substitutes the same way and requires equality (-update rewrites it).
//
// A region's apply, in order:
//
//  1. kubernetes_namespace_v1 creates the manifest's own Namespace (name and pod-security
//     labels decoded from its first document);
//  2. kubernetes_secret_v1 creates the two Secrets the base expects: platform-store (key
//     url, from TF_VAR_database_url) and platform-secret-key (key secret.key, 32 bytes from
//     the random provider's random_bytes, kept in the state);
//  3. the provider-free submodule platform/install renders the template with
//     templatefile() and a terraform_data resource, replaced whenever the manifest's
//     SHA-256 changes, runs kubectl apply --server-side --force-conflicts
//     --field-manager=platform-infra from a local-exec provisioner, then (unless
//     wait_for_rollout is false) kubectl rollout status for the mesh and the control plane.
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
// cluster destroyed right after. The base's two cluster-scoped objects,
// ClusterRole and ClusterRoleBinding micro-platform, go with the cluster. Superseded
// platform-config-<hash> ConfigMaps are not pruned; they go with the namespace.
//
// The base runs no database: a cloud region needs TF_VAR_database_url (a postgres:// URL of
// a managed PostgreSQL the cluster can reach); the platform module refuses a plan without
// it. A change of the URL updates the Secret only: the control plane reads it at start, so
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
//	platform DB   TF_VAR_database_url (required for cloud regions: deploy/kubernetes runs no
//	              PostgreSQL; it becomes the platform-store Secret)
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
// golden-tested: their providers (and kubernetes and random for platform) cannot be
// installed offline, so `tofu validate` cannot run on them here.
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
// any rollout, since no kubelet runs in the test cluster.
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
