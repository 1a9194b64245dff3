# Installs Micro Platform onto a cluster: its namespace, the database URL as a secret when
# a managed database is used, and the Helm chart with NATS and PostgreSQL settings.
# The kubernetes and helm providers are configured by the caller.

resource "kubernetes_namespace_v1" "this" {
  metadata {
    name = var.namespace

    labels = {
      "app.kubernetes.io/managed-by" = "micro-platform-infra"
    }
  }
}

resource "kubernetes_secret_v1" "database" {
  count = var.database_url == null ? 0 : 1

  metadata {
    name      = "${var.release_name}-database"
    namespace = kubernetes_namespace_v1.this.metadata[0].name
  }

  data = {
    url = var.database_url
  }
}

locals {
  values = merge({
    region = var.region
    domain = var.domain
    nats = {
      install = var.nats.install
      url     = var.nats.install ? null : var.nats.url
    }
    postgresql = {
      install        = var.database_url == null
      existingSecret = var.database_url == null ? null : kubernetes_secret_v1.database[0].metadata[0].name
    }
  }, var.values)
}

resource "helm_release" "platform" {
  name      = var.release_name
  chart     = var.chart_path
  namespace = kubernetes_namespace_v1.this.metadata[0].name
  values    = [yamlencode(local.values)]
  atomic    = true
  timeout   = 600
}

data "kubernetes_service_v1" "gateway" {
  metadata {
    name      = "${var.release_name}-gateway"
    namespace = kubernetes_namespace_v1.this.metadata[0].name
  }

  depends_on = [helm_release.platform]
}

locals {
  gateway_ingress = try(data.kubernetes_service_v1.gateway.status[0].load_balancer[0].ingress[0], {})
  gateway_address = coalesce(try(local.gateway_ingress.ip, ""), try(local.gateway_ingress.hostname, ""), "-")
}
