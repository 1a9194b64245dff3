variable "platform" {
  type        = string
  description = "Name of the platform the region belongs to."
}

variable "name" {
  type        = string
  description = "Name of the region."

  validation {
    condition     = can(regex("^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$", var.name))
    error_message = "The name must be 1-40 lowercase letters, digits and '-', starting with a letter."
  }
}

variable "location" {
  type        = string
  description = "Nominal location of the region; any label."
  default     = "local"
}

variable "domain" {
  type        = string
  description = "Public domain of the platform; empty for none."
  default     = ""
}

variable "kubernetes_version" {
  type        = string
  description = "Kubernetes minor version the modelled cluster claims, e.g. 1.31."
  default     = "1.31"
}

variable "nodes" {
  type = object({
    size = string
    min  = number
    max  = number
  })
  description = "Modelled node pool: size label and autoscaling bounds."
  default     = { size = "local", min = 1, max = 3 }

  validation {
    condition     = var.nodes.min >= 1 && var.nodes.min <= var.nodes.max
    error_message = "nodes.min must be at least 1 and no more than nodes.max."
  }
}

variable "network_cidr" {
  type        = string
  description = "IPv4 CIDR of the modelled network."
  default     = "10.10.0.0/16"

  validation {
    condition     = can(cidrhost(var.network_cidr, 0))
    error_message = "network_cidr must be an IPv4 CIDR such as 10.10.0.0/16."
  }
}

variable "fail_apply" {
  type        = bool
  description = "For tests of failure handling: when true, the apply fails on purpose after creating the other resources."
  default     = false
}

variable "role" {
  type        = string
  description = "control: the region runs the control plane and makes a token for every agent region; agent: it runs a region agent that dials the control plane."
  default     = "control"

  validation {
    condition     = contains(["control", "agent"], var.role)
    error_message = "role must be control or agent."
  }
}

variable "agent_regions" {
  type = map(object({
    provider = string
    location = string
  }))
  description = "control role: the agent regions, by name, each given a token."
  default     = {}
}

variable "control_url" {
  type        = string
  description = "agent role: URL of the control plane (the control region's gateway_endpoint); empty in a plan made before the control region is applied."
  default     = ""
}

variable "region_token" {
  type        = string
  description = "agent role: the region's token, from the control region's region_tokens output; empty in a plan made before the control region made it."
  default     = ""
  sensitive   = true
}
