variable "regions" {
  type = map(object({
    provider = string
    location = string
  }))
  description = "The agent regions, by name, with the provider and location the control plane registers them with."
  default     = {}
}
