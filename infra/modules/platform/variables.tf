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
  description = "Where the control plane pushes the images it builds; the region's nodes must be able to pull from it."
}

variable "database_url" {
  type        = string
  description = "PostgreSQL URL of the platform's store (a managed database): deploy/kubernetes runs no database. Pass it as TF_VAR_database_url, never in a file."
  sensitive   = true

  validation {
    condition     = can(regex("^postgres(ql)?://", var.database_url))
    error_message = "database_url is required and must be a postgres:// URL: the platform keeps its state in PostgreSQL and deploy/kubernetes runs none in the cluster. Set TF_VAR_database_url to a managed database the cluster can reach."
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

variable "host" {
  type        = string
  description = "URL of the cluster's Kubernetes API server (the cluster module's output), for kubectl."
}

variable "cluster_ca_certificate" {
  type        = string
  description = "PEM certificate of the API server's certificate authority (the cluster module's output), for kubectl."
}

variable "token" {
  type        = string
  description = "Bearer token for the Kubernetes API, or null when client certificates are used (the cluster module's output), for kubectl."
  default     = null
  sensitive   = true
}

variable "client_certificate" {
  type        = string
  description = "PEM client certificate for the Kubernetes API, or null when a token is used (the cluster module's output), for kubectl."
  default     = null
  sensitive   = true
}

variable "client_key" {
  type        = string
  description = "PEM client key for the Kubernetes API, or null when a token is used (the cluster module's output), for kubectl."
  default     = null
  sensitive   = true
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
