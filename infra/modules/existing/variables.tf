variable "region" {
  type        = string
  description = "Name of the region the platform is installed in; with domain, the gateway answers on <region>.<domain>."
}

variable "domain" {
  type        = string
  description = "Public domain of the platform; empty for none."
  default     = ""
}

variable "image" {
  type        = string
  description = "The platform's own image (control plane and mesh), built by deploy/kubernetes/build-image."
}

variable "registry" {
  type        = string
  description = "Where the control plane pushes the images it builds; the cluster's nodes must be able to pull from it."
}

variable "database_url" {
  type        = string
  description = "PostgreSQL URL of the platform's store, reachable from the cluster's pods: deploy/kubernetes runs no database. Pass it as TF_VAR_database_url, never in a file."
  sensitive   = true

  validation {
    condition     = can(regex("^postgres(ql)?://", var.database_url))
    error_message = "database_url is required and must be a postgres:// URL: the platform keeps its state in PostgreSQL and deploy/kubernetes runs none in the cluster. Set TF_VAR_database_url to a database the cluster's pods can reach."
  }
}

variable "agent_regions" {
  type = map(object({
    provider = string
    location = string
  }))
  description = "The platform's other regions, by name, each running a region agent: each gets a token, and the control plane registers it at start."
  default     = {}
}

variable "kubeconfig" {
  type        = string
  description = "Absolute path of the kubeconfig file that reaches the existing cluster (platform.yaml's kubeconfig, made absolute)."

  validation {
    condition     = startswith(var.kubeconfig, "/")
    error_message = "kubeconfig must be an absolute path."
  }
}

variable "kube_context" {
  type        = string
  description = "The kubeconfig's context to use; empty for its current context."
  default     = ""
}

variable "wait_for_rollout" {
  type        = bool
  description = "Wait until the mesh and the control plane have rolled out before the apply succeeds."
  default     = true
}

variable "rollout_timeout" {
  type        = string
  description = "How long to wait for each rollout (kubectl --timeout, e.g. 10m)."
  default     = "10m"
}
