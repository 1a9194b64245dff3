# A region modelled with the engine's built-in terraform_data resource and no provider, so
# plan, apply, destroy, state, locking and outputs run for real without a cloud. Changing
# any input of the cluster replaces it, as a cloud would for a new network or version.
#
# The region's role is modelled as the cloud modules install it: the control region makes
# one token per agent region with the same region-tokens module the platform module
# calls, and its platform resource holds what the Secret platform-region-tokens would (the
# hashes only); an agent region's platform resource holds the control plane's URL and the
# SHA-256 of the token it was given, as the agent module's install would.

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

module "tokens" {
  source = "../region-tokens"

  regions = var.role == "control" ? var.agent_regions : {}
}

resource "terraform_data" "platform" {
  input = {
    role      = var.role
    namespace = "micro-platform"
    domain    = var.domain
    # control: the region tokens file of the control plane
    region_tokens = var.role == "control" ? module.tokens.seeds : ""
    # agent: what its Deployment is given
    control_url         = var.control_url
    region_token_sha256 = local.region_token_sha256
  }

  triggers_replace = [terraform_data.cluster.id]
}

locals {
  # The hash of a token may be shown; the token may not.
  region_token_sha256 = nonsensitive(var.region_token == "" ? "" : sha256(var.region_token))
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
