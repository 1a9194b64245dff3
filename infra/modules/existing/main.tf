# Installs Micro Platform's control plane onto a cluster that already exists (provider kind
# "existing"): the same manifest as the platform module (../platform/install, which is
# deploy/kubernetes), applied with the operator's kubeconfig, and the same Secrets, but
# without any provider: the namespace and the Secrets are made by kubectl from a
# local-exec provisioner (./secrets.sh) and the secret key, like the region tokens
# (../region-tokens), by the engine's uuid(), kept in the state. No cluster is created,
# and no load balancer: exposing the platform Service is the cluster owner's business, as
# for a hand install of deploy/kubernetes.
#
# Order: the namespace and the Secrets, then the manifest (so the pods start with their
# Secrets). Destroying deletes the namespace (and with it everything the manifest put in
# it, and the volumes behind its claims); the cluster stays.

module "install" {
  source = "../platform/install"

  image            = var.image
  registry         = var.registry
  gateway_domain   = var.domain == "" ? "" : "${var.region}.${var.domain}"
  kubeconfig       = var.kubeconfig
  kube_context     = var.kube_context
  wait_for_rollout = var.wait_for_rollout
  rollout_timeout  = var.rollout_timeout
  after            = [terraform_data.secrets.id]

  values = { region_tokens_sha256 = module.tokens.seeds_sha256, region = var.region }
}

module "tokens" {
  source = "../region-tokens"

  regions = var.agent_regions
}

# The master key the control plane and the mesh share (see ../platform): two version-4
# UUIDs without dashes, 64 hexadecimal characters (244 random bits), which the server
# takes as they are (it reads secret.key as bytes). Made once and kept in the state:
# uuid() differs on every run, and replacing the key invalidates every credential and
# sealed value, so nothing here ever changes it.
resource "terraform_data" "secret_key" {
  input = "${replace(uuid(), "-", "")}${replace(uuid(), "-", "")}"

  lifecycle {
    ignore_changes = [input]
  }
}

locals {
  namespace = module.install.namespace.name
  labels    = merge(module.install.namespace.labels, { "app.kubernetes.io/managed-by" = "micro-platform-infra" })
}

# The namespace's lifetime: made by the first apply of the Secrets (below), deleted when
# the region is destroyed, with the manifest's cluster-wide objects (RBAC, the admission
# policy), which no namespace holds. A resource of its own, never replaced by a change of the
# Secrets (a replacement would run this destroy-time delete and take the platform with
# it); a change of input (a moved kubeconfig) updates it in place. Destroy-time
# provisioners may read only self: what the delete needs is kept in input.
resource "terraform_data" "namespace" {
  input = {
    kubeconfig   = var.kubeconfig
    kube_context = var.kube_context
    namespace    = local.namespace
    # Kind/name of the manifest's objects outside the namespace.
    cluster_objects = [for o in module.install.objects : o if can(regex("^(ClusterRole|ClusterRoleBinding|ValidatingAdmissionPolicy|ValidatingAdmissionPolicyBinding)/", o))]
  }

  provisioner "local-exec" {
    when        = destroy
    interpreter = ["/bin/sh", "-c"]
    command     = "/bin/sh \"${path.module}/secrets.sh\" delete"

    environment = {
      PLATFORM_KUBECONFIG      = self.input.kubeconfig
      PLATFORM_KUBE_CONTEXT    = self.input.kube_context
      PLATFORM_NAMESPACE       = self.input.namespace
      PLATFORM_CLUSTER_OBJECTS = join(" ", self.input.cluster_objects)
    }
  }
}

# The namespace and the Secrets platform-store, platform-secret-key and
# platform-region-tokens. A change of any of them (a new database URL, a region added)
# replaces this resource, which applies them again; its replacement deletes nothing. The
# values reach kubectl through files in a private temporary directory, never on a command
# line.
resource "terraform_data" "secrets" {
  triggers_replace = {
    namespace = terraform_data.namespace.id
    content   = sha256(jsonencode([var.database_url, terraform_data.secret_key.output, module.tokens.seeds, local.labels]))
  }

  provisioner "local-exec" {
    interpreter = ["/bin/sh", "-c"]
    command     = "/bin/sh \"${path.module}/secrets.sh\" apply"

    environment = {
      PLATFORM_KUBECONFIG    = var.kubeconfig
      PLATFORM_KUBE_CONTEXT  = var.kube_context
      PLATFORM_NAMESPACE     = local.namespace
      PLATFORM_LABELS        = join(",", [for k, v in local.labels : "${k}=${v}"])
      PLATFORM_DATABASE_URL  = var.database_url
      PLATFORM_SECRET_KEY    = terraform_data.secret_key.output
      PLATFORM_REGION_TOKENS = module.tokens.seeds
    }
  }
}
