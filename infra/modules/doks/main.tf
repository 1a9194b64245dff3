# A DigitalOcean Kubernetes (DOKS) cluster in its own VPC with one autoscaling node pool.
# Credentials come from DIGITALOCEAN_TOKEN in the caller's provider configuration.
#
# Hardening: the control plane firewall lets only api_allowed_cidrs (and the cluster's
# own nodes) reach the API. DOKS offers none of the other switches (docs/security.md,
# "Cloud clusters"): its nodes always have public addresses, it has no customer-managed
# key for Secrets nor flow logs, and Cilium always enforces NetworkPolicy.

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

  control_plane_firewall {
    enabled           = true
    allowed_addresses = var.api_allowed_cidrs
  }

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
