# Applies deploy/kubernetes, the kustomize base that installs Micro Platform, to a cluster
# with kubectl. The base is shipped as ../install.yaml.tftpl: `kubectl kustomize
# deploy/kubernetes` with the values a region varies as template variables, kept equal to
# the base by TestInstallTemplate in deploy/kubernetes. The agent module applies its own
# base (deploy/kubernetes/agent, ../../agent/install.yaml.tftpl) through this module too,
# with var.template, var.values and var.rollouts. kubectl must be on the PATH of the
# process that runs the engine. The cluster is reached with host and credentials (a cluster
# a cluster module made) or with an operator's kubeconfig file (an existing cluster,
# ../../existing).
#
# Nothing is deleted when this resource is destroyed or replaced: a change of the manifest
# replaces it, which applies the new manifest over the old one (server-side apply updates
# in place, so the platform-data volume and the pods survive), and the caller removes the
# platform by deleting its namespace (see ../main.tf).

locals {
  template = coalesce(var.template, "${path.module}/../install.yaml.tftpl")

  # The server config's ConfigMap is named after a hash of what it holds, as kustomize's
  # generator names it, so a change rolls the Deployment.
  config_hash = substr(sha256(jsonencode([filesha256(local.template), var.registry, var.gateway_domain, var.values])), 0, 10)

  manifest = templatefile(local.template, merge(var.values, {
    image          = var.image
    registry       = var.registry
    gateway_domain = var.gateway_domain
    config_hash    = local.config_hash
  }))

  documents = [for d in split("\n---\n", local.manifest) : yamldecode(d)]
}

resource "terraform_data" "apply" {
  triggers_replace = {
    manifest = sha256(local.manifest)
    after    = var.after
  }

  provisioner "local-exec" {
    # The script is not inlined: a failure is reported with the command, then kubectl's
    # output (the output of a success is suppressed, since the environment holds
    # credentials).
    interpreter = ["/bin/sh", "-c"]
    command     = "/bin/sh \"${path.module}/kubectl-apply.sh\""

    # The credentials reach kubectl through a kubeconfig the script writes into a private
    # temporary directory and removes; never on a command line.
    environment = {
      PLATFORM_MANIFEST                = local.manifest
      PLATFORM_NAMESPACE               = local.documents[0].metadata.name
      PLATFORM_WAIT                    = tostring(var.wait_for_rollout)
      PLATFORM_ROLLOUTS                = join(" ", var.rollouts)
      PLATFORM_ROLLOUT_TIMEOUT         = var.rollout_timeout
      PLATFORM_KUBECONFIG              = var.kubeconfig
      PLATFORM_KUBE_CONTEXT            = var.kube_context
      PLATFORM_KUBE_HOST               = var.host
      PLATFORM_KUBE_CA                 = var.cluster_ca_certificate
      PLATFORM_KUBE_TOKEN              = var.token == null ? "" : var.token
      PLATFORM_KUBE_CLIENT_CERTIFICATE = var.client_certificate == null ? "" : var.client_certificate
      PLATFORM_KUBE_CLIENT_KEY         = var.client_key == null ? "" : var.client_key
    }
  }
}
