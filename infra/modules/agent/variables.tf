variable "region" {
  type        = string
  description = "Name of the region, as the control plane registers it; with domain, the gateway answers on <region>.<domain>."
}

variable "domain" {
  type        = string
  description = "Public domain of the platform; empty for none."
  default     = ""
}

variable "image" {
  type        = string
  description = "The platform's own image (the agent runs it), built by deploy/kubernetes/build-image."
}

variable "registry" {
  type        = string
  description = "Where the agent pushes the images it packs from the control plane's builds; the region's nodes must be able to pull from it."
}

variable "control_url" {
  type        = string
  description = "URL of the control plane (the control region's gateway_endpoint); platform infra passes it."

  validation {
    condition     = var.control_url == "" || can(regex("^https?://[^/\\s\"]+", var.control_url))
    error_message = "control_url must be the control plane's http(s) URL."
  }
}

variable "region_token" {
  type        = string
  description = "The region's token, made by the control region (its region_tokens output); platform infra passes it, never in a file."
  sensitive   = true
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
  description = "Wait until the agent has rolled out before the apply succeeds."
  default     = true
}

variable "rollout_timeout" {
  type        = string
  description = "How long to wait for the rollout (kubectl --timeout, e.g. 10m)."
  default     = "10m"
}
