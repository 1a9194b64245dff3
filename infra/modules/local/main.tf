# A region modelled with the engine's built-in terraform_data resource and no provider, so
# plan, apply, destroy, state, locking and outputs run for real without a cloud. Changing
# any input of the cluster replaces it, as a cloud would for a new network or version.

resource "terraform_data" "cluster" {
  input = {
    platform           = var.platform
    name               = var.name
    location           = var.location
    kubernetes_version = var.kubernetes_version
    network_cidr       = var.network_cidr
  }
}

resource "terraform_data" "node_pool" {
  input = var.nodes

  triggers_replace = [terraform_data.cluster.id]
}

resource "terraform_data" "platform" {
  input = {
    namespace = "micro-platform"
    domain    = var.domain
  }

  triggers_replace = [terraform_data.cluster.id]
}
