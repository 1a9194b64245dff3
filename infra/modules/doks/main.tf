# A DigitalOcean Kubernetes (DOKS) cluster in its own VPC with one autoscaling node pool.
# Credentials come from DIGITALOCEAN_TOKEN in the caller's provider configuration.

data "digitalocean_kubernetes_versions" "this" {
  version_prefix = "${var.kubernetes_version}."
}

resource "digitalocean_vpc" "this" {
  name     = "${var.name}-vpc"
  region   = var.location
  ip_range = var.network_cidr
}

resource "digitalocean_kubernetes_cluster" "this" {
  name          = var.name
  region        = var.location
  version       = data.digitalocean_kubernetes_versions.this.latest_version
  vpc_uuid      = digitalocean_vpc.this.id
  auto_upgrade  = true
  surge_upgrade = true

  node_pool {
    name       = "${var.name}-default"
    size       = var.node_size
    auto_scale = true
    min_nodes  = var.node_min
    max_nodes  = var.node_max
  }

  lifecycle {
    precondition {
      condition     = var.node_min <= var.node_max
      error_message = "node_min must not exceed node_max."
    }
  }
}
