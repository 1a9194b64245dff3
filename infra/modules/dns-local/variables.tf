variable "name" {
  type        = string
  description = "Name of the platform; prefixes the monitor and the pools."

  validation {
    condition     = can(regex("^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$", var.name))
    error_message = "The name must be 1-40 lowercase letters, digits and '-', starting with a letter."
  }
}

variable "zone" {
  type        = string
  description = "DNS zone the load balancer lives in, e.g. example.dev."
}

variable "hostname" {
  type        = string
  description = "Fully qualified hostname the load balancer answers on, inside zone."
}

variable "regions" {
  type = map(object({
    address     = string
    enabled     = optional(bool, true)
    host_header = optional(string)
  }))
  description = "Gateway of each region, by region name: its address (IP or hostname), whether it takes traffic, and the Host header to send it (null keeps the load balancer's hostname)."

  validation {
    condition     = length(var.regions) > 0
    error_message = "At least one region is needed."
  }
}

variable "health_check_path" {
  type        = string
  description = "HTTP path the monitor probes on every region's gateway."
  default     = "/healthz"

  validation {
    condition     = startswith(var.health_check_path, "/")
    error_message = "health_check_path must start with '/'."
  }
}

variable "health_check_interval" {
  type        = number
  description = "Seconds between health checks."
  default     = 60

  validation {
    condition     = var.health_check_interval >= 10 && var.health_check_interval <= 3600
    error_message = "health_check_interval must be between 10 and 3600 seconds."
  }
}

variable "steering_policy" {
  type        = string
  description = "How traffic is spread across healthy regions: off, geo, random, dynamic_latency, proximity or least_connections."
  default     = "dynamic_latency"

  validation {
    condition     = contains(["off", "geo", "random", "dynamic_latency", "proximity", "least_connections"], var.steering_policy)
    error_message = "steering_policy must be one of off, geo, random, dynamic_latency, proximity, least_connections."
  }
}
