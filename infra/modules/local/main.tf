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

# A resource that fails at apply time (not at plan time) when fail_apply is set, the way a
# cloud API error would, so that tests can show one region failing while others complete.
# Provisioners are built into the engine: no provider is needed. The failed resource is
# left tainted; the next apply without fail_apply removes it.
resource "terraform_data" "fault" {
  count = var.fail_apply ? 1 : 0

  triggers_replace = [terraform_data.platform.id]

  provisioner "local-exec" {
    command = "echo 'fail_apply is set: failing this apply on purpose' >&2; exit 1"
  }
}
