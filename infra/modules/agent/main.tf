# Installs a region agent onto a region's cluster: exactly what deploy/kubernetes/agent (a
# kustomize base) describes, shipped here as install.yaml.tftpl with the region's image,
# registry, name, control plane URL and token hash as variables, plus the Secret holding
# the region's token and a LoadBalancer in front of the region's gateway. The agent runs
# the region's NATS, the kubernetes runtime driver and the gateway, and dials the control
# plane (the control region's platform module) with its token: the region needs no
# database and no inbound port for the control plane. The kubernetes provider is
# configured by the caller; the manifest is applied by kubectl through the platform
# module's provider-free install step, as the platform's own is.
#
# Order: the namespace, then the token's Secret in it, then the manifest, then the load
# balancer. Destroying deletes the namespace, and everything in it, before the cluster goes.

locals {
  # The hash of the token may be shown (and rolls the agent when the token changes); the
  # token may not.
  region_token_sha256 = nonsensitive(sha256(var.region_token))
}

module "install" {
  source = "../platform/install"

  template               = "${path.module}/install.yaml.tftpl"
  image                  = var.image
  registry               = var.registry
  values                 = { region = var.region, control_url = var.control_url, region_token_sha256 = local.region_token_sha256 }
  rollouts               = ["deployment/platform-agent"]
  host                   = var.host
  cluster_ca_certificate = var.cluster_ca_certificate
  token                  = var.token
  client_certificate     = var.client_certificate
  client_key             = var.client_key
  wait_for_rollout       = var.wait_for_rollout
  rollout_timeout        = var.rollout_timeout
  after                  = [kubernetes_secret_v1.region_token.id]
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

# The region's token, which the control region made: the agent reads it from its
# environment (PLATFORM_REGION_TOKEN), never from its command line.
resource "kubernetes_secret_v1" "region_token" {
  metadata {
    name      = "platform-region-token"
    namespace = local.namespace
    labels    = local.labels
  }

  data = {
    token = var.region_token
  }
}

# The base leaves exposing the agent's gateway to the operator; a region exposes it with a
# cloud load balancer, whose address the global DNS uses as the region's origin.
resource "kubernetes_service_v1" "gateway" {
  metadata {
    name      = "platform-gateway"
    namespace = local.namespace
    labels    = local.labels
  }

  spec {
    type = "LoadBalancer"
    selector = {
      "app.kubernetes.io/name"      = "platform-agent"
      "app.kubernetes.io/component" = "agent"
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
