variable "name" {
  type        = string
  description = "Name of the cluster; also prefixes its network resources."

  validation {
    condition     = can(regex("^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$", var.name))
    error_message = "The name must be 1-40 lowercase letters, digits and '-', starting with a letter."
  }
}

variable "location" {
  type        = string
  description = "DigitalOcean region slug, e.g. lon1."

  validation {
    condition     = length(var.location) > 0
    error_message = "The location must not be empty."
  }
}

variable "kubernetes_version" {
  type        = string
  description = "Kubernetes minor version of the control plane, e.g. 1.31."
  default     = "1.31"

  validation {
    condition     = can(regex("^1\\.[0-9]{2}$", var.kubernetes_version))
    error_message = "The Kubernetes version must be a minor version such as 1.31."
  }
}

variable "node_size" {
  type        = string
  description = "Machine size of the nodes, e.g. s-4vcpu-8gb."
}

variable "node_min" {
  type        = number
  description = "Fewest nodes the autoscaler keeps."
  default     = 1

  validation {
    condition     = var.node_min >= 1 && floor(var.node_min) == var.node_min
    error_message = "node_min must be a whole number of at least 1."
  }
}

variable "node_max" {
  type        = number
  description = "Most nodes the autoscaler adds; at least node_min."
  default     = 3

  validation {
    condition     = var.node_max >= 1 && floor(var.node_max) == var.node_max
    error_message = "node_max must be a whole number of at least 1."
  }
}

variable "network_cidr" {
  type        = string
  description = "IPv4 CIDR of the cluster's network."
  default     = "10.10.0.0/16"

  validation {
    condition     = can(cidrhost(var.network_cidr, 0)) && can(regex("^[0-9.]+/([89]|1[0-9]|2[0-4])$", var.network_cidr))
    error_message = "network_cidr must be an IPv4 CIDR between /8 and /24, such as 10.10.0.0/16."
  }
}

variable "api_allowed_cidrs" {
  type        = list(string)
  description = "IPv4 networks the control plane firewall lets reach the Kubernetes API: where platform infra apply and kubectl run. No default: an empty or missing list is refused."

  validation {
    condition     = length(var.api_allowed_cidrs) > 0 && length(var.api_allowed_cidrs) <= 40 && alltrue([for c in var.api_allowed_cidrs : can(cidrhost(c, 0)) && can(regex("^[0-9.]+/[0-9]+$", c))])
    error_message = "api_allowed_cidrs must list 1-40 IPv4 CIDRs, such as 203.0.113.0/24."
  }
}
