# A Google Kubernetes Engine (GKE) regional cluster in its own VPC with one autoscaling node
# pool. The project and credentials come from GOOGLE_PROJECT and GOOGLE_CREDENTIALS.

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

  secondary_ip_range {
    range_name    = "pods"
    ip_cidr_range = var.pods_cidr
  }

  secondary_ip_range {
    range_name    = "services"
    ip_cidr_range = var.services_cidr
  }
}

resource "google_container_cluster" "this" {
  name                = var.name
  location            = var.location
  network             = google_compute_network.this.id
  subnetwork          = google_compute_subnetwork.this.id
  min_master_version  = var.kubernetes_version
  deletion_protection = var.deletion_protection

  # The default pool cannot autoscale as configured here; it is replaced by the pool below.
  remove_default_node_pool = true
  initial_node_count       = 1

  ip_allocation_policy {
    cluster_secondary_range_name  = "pods"
    services_secondary_range_name = "services"
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
  }

  lifecycle {
    precondition {
      condition     = var.node_min <= var.node_max
      error_message = "node_min must not exceed node_max."
    }
  }
}
