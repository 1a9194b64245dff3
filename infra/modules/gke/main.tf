# A Google Kubernetes Engine (GKE) regional cluster in its own VPC with one autoscaling node
# pool. The project and credentials come from GOOGLE_PROJECT and GOOGLE_CREDENTIALS.
#
# Hardening (each switch is a variable; docs/security.md, "Cloud clusters", says why):
#   - the API's public endpoint answers only api_allowed_cidrs (master authorized networks);
#   - private_nodes: nodes without public addresses, egress through Cloud NAT; Google
#     Compute Engine's public addresses are then no longer let through to the API;
#   - flow_logs: the subnetwork's flows in Cloud Logging;
#   - metadata_concealment: the GKE metadata server with Workload Identity in front of the
#     node's service account; legacy metadata endpoints are always off;
#   - always: GKE Dataplane V2, which enforces the platform's NetworkPolicies.

data "google_client_config" "this" {}

resource "google_compute_network" "this" {
  name                    = "${var.name}-vpc"
  auto_create_subnetworks = false
}

resource "google_compute_subnetwork" "this" {
  name          = "${var.name}-nodes"
  region        = var.location
  network       = google_compute_network.this.id
  ip_cidr_range = var.network_cidr
  # Private nodes reach Google's APIs (and its registries) without the NAT.
  private_ip_google_access = true

  secondary_ip_range {
    range_name    = "pods"
    ip_cidr_range = var.pods_cidr
  }

  secondary_ip_range {
    range_name    = "services"
    ip_cidr_range = var.services_cidr
  }

  dynamic "log_config" {
    for_each = var.flow_logs ? [1] : []

    content {
      aggregation_interval = "INTERVAL_5_SEC"
      flow_sampling        = 0.5
      metadata             = "INCLUDE_ALL_METADATA"
    }
  }
}

resource "google_compute_router" "nat" {
  count = var.private_nodes ? 1 : 0

  name    = "${var.name}-nat"
  region  = var.location
  network = google_compute_network.this.id
}

resource "google_compute_router_nat" "this" {
  count = var.private_nodes ? 1 : 0

  name                               = "${var.name}-nat"
  router                             = google_compute_router.nat[0].name
  region                             = var.location
  nat_ip_allocate_option             = "AUTO_ONLY"
  source_subnetwork_ip_ranges_to_nat = "ALL_SUBNETWORKS_ALL_IP_RANGES"

  log_config {
    enable = true
    filter = "ERRORS_ONLY"
  }
}

resource "google_container_cluster" "this" {
  name                = var.name
  location            = var.location
  network             = google_compute_network.this.id
  subnetwork          = google_compute_subnetwork.this.id
  min_master_version  = var.kubernetes_version
  deletion_protection = var.deletion_protection

  # Not a switch: the platform isolates namespaces with NetworkPolicy, which Dataplane V2
  # enforces.
  datapath_provider = "ADVANCED_DATAPATH"

  # The default pool cannot autoscale as configured here; it is replaced by the pool below.
  remove_default_node_pool = true
  initial_node_count       = 1

  ip_allocation_policy {
    cluster_secondary_range_name  = "pods"
    services_secondary_range_name = "services"
  }

  master_authorized_networks_config {
    dynamic "cidr_blocks" {
      for_each = var.api_allowed_cidrs

      content {
        cidr_block   = cidr_blocks.value
        display_name = "api-allowed-${cidr_blocks.key}"
      }
    }

    # Public nodes reach the API from Compute Engine addresses, which are anyone's VMs;
    # private nodes use the private endpoint and need none of them.
    gcp_public_cidrs_access_enabled = !var.private_nodes
  }

  dynamic "private_cluster_config" {
    for_each = var.private_nodes ? [1] : []

    content {
      enable_private_nodes = true
      # The public endpoint stays, behind api_allowed_cidrs: platform infra apply runs
      # kubectl from outside the VPC.
      enable_private_endpoint = false
    }
  }

  dynamic "workload_identity_config" {
    for_each = var.metadata_concealment ? [1] : []

    content {
      workload_pool = "${data.google_client_config.this.project}.svc.id.goog"
    }
  }
}

resource "google_container_node_pool" "default" {
  name     = "${var.name}-default"
  cluster  = google_container_cluster.this.id
  location = var.location

  # Per zone: a regional cluster runs this many nodes in each of its zones.
  autoscaling {
    min_node_count = var.node_min
    max_node_count = var.node_max
  }

  node_config {
    machine_type = var.node_size
    oauth_scopes = ["https://www.googleapis.com/auth/cloud-platform"]

    metadata = {
      disable-legacy-endpoints = "true"
    }

    # GKE_METADATA: pods see the GKE metadata server, which hides the node's service
    # account and identity; GCE_METADATA hands them to every pod.
    workload_metadata_config {
      mode = var.metadata_concealment ? "GKE_METADATA" : "GCE_METADATA"
    }
  }

  lifecycle {
    precondition {
      condition     = var.node_min <= var.node_max
      error_message = "node_min must not exceed node_max."
    }
  }
}
