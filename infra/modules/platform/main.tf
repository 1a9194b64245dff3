# Installs Micro Platform's control plane onto the control region's cluster: exactly what
# deploy/kubernetes (the kustomize base) describes, shipped here as install.yaml.tftpl with
# the region's image, registry and gateway domain as variables, plus the Secrets the base
# expects (the store, the secret key and the region tokens file) and a LoadBalancer in
# front of the gateway. It makes one token per agent region (../region-tokens), which
# platform infra hands to that region's apply (the agent module). The kubernetes provider is configured by the
# caller; the manifest itself is applied by kubectl (./install), because
# kubernetes_manifest needs the API server at plan time and the cluster does not exist
# yet on a region's first plan.
#
# Order: the namespace, then the Secrets in it, then the manifest (so the pods start with
# their Secrets), then the load balancer. Destroying deletes the namespace with the
# provider's current credentials, which deletes everything the manifest put in it (and
# the volumes behind its PersistentVolumeClaims, and the cloud load balancer) before the
# cluster goes.

module "install" {
  source = "./install"

  image                  = var.image
  registry               = var.registry
  gateway_domain         = var.domain == "" ? "" : "${var.region}.${var.domain}"
  host                   = var.host
  cluster_ca_certificate = var.cluster_ca_certificate
  token                  = var.token
  client_certificate     = var.client_certificate
  client_key             = var.client_key
  wait_for_rollout       = var.wait_for_rollout
  rollout_timeout        = var.rollout_timeout
  after                  = [kubernetes_secret_v1.store.id, kubernetes_secret_v1.secret_key.id, kubernetes_secret_v1.region_tokens.id]

  # The control plane reads the region tokens file at start: a change of the set rolls it
  # (an annotation of its pod template).
  # The control plane runs the control region itself (local_region).
  values = { region_tokens_sha256 = module.tokens.seeds_sha256, region = var.region }
}

# One token per agent region, kept in the state; the control plane gets their hashes only.
module "tokens" {
  source = "../region-tokens"

  regions = var.agent_regions
}

# The manifest's own Namespace document (name and pod-security labels); the manifest
# applies it again, unchanged.
resource "kubernetes_namespace_v1" "this" {
  metadata {
    name   = module.install.namespace.name
    labels = module.install.namespace.labels
  }

  timeouts {
    delete = "15m"
  }
}

locals {
  namespace = kubernetes_namespace_v1.this.metadata[0].name
  labels    = { "app.kubernetes.io/part-of" = "micro-platform", "app.kubernetes.io/managed-by" = "micro-platform-infra" }
}

# The master key the control plane and the mesh share: NATS credentials of every namespace
# and sealed release environments derive from it. It lives in the state (encrypted at
# rest by the backend) and in the Secret; replacing it invalidates every credential and
# sealed value, so nothing here ever changes it.
resource "random_bytes" "secret_key" {
  length = 32
}

resource "kubernetes_secret_v1" "secret_key" {
  metadata {
    name      = "platform-secret-key"
    namespace = local.namespace
    labels    = local.labels
  }

  binary_data = {
    "secret.key" = random_bytes.secret_key.base64
  }
}

# The store: the base runs no database, so a region needs a managed PostgreSQL.
resource "kubernetes_secret_v1" "store" {
  metadata {
    name      = "platform-store"
    namespace = local.namespace
    labels    = local.labels
  }

  data = {
    url = var.database_url
  }
}

# The region tokens file (control.ParseRegionSeeds): each agent region's token hash,
# provider and location. The base mounts it optional, so a hand install runs without.
resource "kubernetes_secret_v1" "region_tokens" {
  metadata {
    name      = "platform-region-tokens"
    namespace = local.namespace
    labels    = local.labels
  }

  data = {
    "regions.json" = module.tokens.seeds
  }
}

# The base leaves exposing the platform Service to the operator; a region exposes it with
# a cloud load balancer, whose address the global DNS uses as the region's origin. Being
# in the namespace, it is deleted (and the cloud load balancer released) with it.
resource "kubernetes_service_v1" "gateway" {
  metadata {
    name      = "platform-gateway"
    namespace = local.namespace
    labels    = local.labels
  }

  spec {
    type = "LoadBalancer"
    selector = {
      "app.kubernetes.io/name"      = "platform"
      "app.kubernetes.io/component" = "control-plane"
    }

    port {
      name        = "http"
      port        = 80
      target_port = "http"
    }
  }

  wait_for_load_balancer = true

  depends_on = [module.install]
}

locals {
  gateway_ingress = try(kubernetes_service_v1.gateway.status[0].load_balancer[0].ingress[0], {})
  gateway_address = coalesce(try(local.gateway_ingress.ip, ""), try(local.gateway_ingress.hostname, ""), "-")
}
