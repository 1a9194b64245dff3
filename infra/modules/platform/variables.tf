variable "region" {
  type        = string
  description = "Name of the region the platform is installed in; passed to the chart."
}

variable "domain" {
  type        = string
  description = "Public domain the gateway answers on; empty for none."
  default     = ""
}

variable "namespace" {
  type        = string
  description = "Kubernetes namespace the platform runs in."
  default     = "micro-platform"

  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", var.namespace))
    error_message = "namespace must be a Kubernetes namespace name."
  }
}

variable "release_name" {
  type        = string
  description = "Name of the Helm release."
  default     = "micro-platform"
}

variable "chart_path" {
  type        = string
  description = "Path of the platform's Helm chart (the project's deploy/kubernetes)."
}

variable "nats" {
  type = object({
    install = optional(bool, true)
    url     = optional(string)
  })
  description = "NATS for the platform: installed in the cluster, or an existing server's URL."
  default     = {}

  validation {
    condition     = var.nats.install || try(length(var.nats.url) > 0, false)
    error_message = "Either install NATS in the cluster or give its url."
  }
}

variable "database_url" {
  type        = string
  description = "PostgreSQL URL of a managed database; null runs PostgreSQL in the cluster. Pass it as TF_VAR_database_url, never in a file."
  default     = null
  sensitive   = true
}

variable "values" {
  type        = any
  description = "Extra Helm values merged over the ones this module sets."
  default     = {}
}
