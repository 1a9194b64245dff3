variable "image" {
  type        = string
  description = "The platform's own image (control plane and mesh), e.g. registry.example.com/micro-platform/platform:v0.1.0."

  validation {
    condition     = can(regex("^[a-z0-9][A-Za-z0-9._/:@-]*$", var.image))
    error_message = "image must be an image reference such as registry.example.com/micro-platform/platform:v0.1.0."
  }
}

variable "registry" {
  type        = string
  description = "Where the control plane pushes the images it builds, e.g. registry.example.com/micro-platform/services."

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9._/:-]*$", var.registry))
    error_message = "registry must be a repository prefix such as registry.example.com/micro-platform/services."
  }
}

variable "gateway_domain" {
  type        = string
  description = "Domain under which the gateway takes the namespace from the host (NAMESPACE.<gateway_domain>); empty for none."
  default     = ""

  validation {
    condition     = var.gateway_domain == "" || can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", var.gateway_domain))
    error_message = "gateway_domain must be a DNS name or empty."
  }
}

variable "host" {
  type        = string
  description = "URL of the cluster's Kubernetes API server; empty when kubeconfig is set."
  default     = ""
}

variable "cluster_ca_certificate" {
  type        = string
  description = "PEM certificate of the API server's certificate authority; empty when kubeconfig is set."
  default     = ""
}

variable "kubeconfig" {
  type        = string
  description = "Path of a kubeconfig file to reach the cluster with instead of host and the credentials (an existing cluster's); empty for none."
  default     = ""
}

variable "kube_context" {
  type        = string
  description = "The kubeconfig's context to use; empty for its current context."
  default     = ""
}

variable "token" {
  type        = string
  description = "Bearer token for the Kubernetes API, or null when client certificates are used."
  default     = null
  sensitive   = true
}

variable "client_certificate" {
  type        = string
  description = "PEM client certificate for the Kubernetes API, or null when a token is used."
  default     = null
  sensitive   = true
}

variable "client_key" {
  type        = string
  description = "PEM client key for the Kubernetes API, or null when a token is used."
  default     = null
  sensitive   = true
}

variable "after" {
  type        = list(string)
  description = "IDs of objects that must exist before the manifest is applied (the Secrets the workloads read); a change applies it again."
  default     = []
}

variable "wait_for_rollout" {
  type        = bool
  description = "Wait until the mesh and the control plane have rolled out (kubectl rollout status) before the apply succeeds."
  default     = true
}

variable "rollout_timeout" {
  type        = string
  description = "How long to wait for each rollout, as kubectl's --timeout takes it (e.g. 10m)."
  default     = "10m"

  validation {
    condition     = can(regex("^[0-9]+[smh]$", var.rollout_timeout))
    error_message = "rollout_timeout must be a number of s, m or h, e.g. 10m."
  }
}

variable "template" {
  type        = string
  description = "Path of the manifest template; null for the platform's own (../install.yaml.tftpl, deploy/kubernetes)."
  default     = null
}

variable "values" {
  type        = map(string)
  description = "The template's variables besides image, registry, gateway_domain and config_hash (e.g. region_tokens_sha256 for the platform's, region and control_url for the agent's)."
  default     = {}
}

variable "rollouts" {
  type        = list(string)
  description = "The workloads to wait for (kubectl rollout status), as kind/name in the manifest's namespace."
  default     = ["statefulset/platform-mesh", "deployment/platform"]
}
